"""The configuration's sections (model, validation, suppression, ...): frozen, typed, every range checked.

Each is a pydantic dataclass: built from the YAML mapping by `parse_config`
(which names every bad key with its dotted path) or directly in code and
tests (which raises pydantic's ValidationError). Unknown keys are refused.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Field, Strict, model_validator
from pydantic.dataclasses import dataclass

from stratify.config.names import name_problem
from stratify.config.oidc import OidcConfig

SECTION = ConfigDict(extra="forbid")

Int = Annotated[int, Strict()]
Float = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
Share = Annotated[Float, Field(ge=0, le=1)]
Days = Annotated[Int, Field(ge=1, le=36_500)]
MEMORY_RE = re.compile(r"[0-9]+(\.[0-9]+)?\s?(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)|[0-9]{1,2}%", re.IGNORECASE)


def _memory(text: str) -> str:
    if not MEMORY_RE.fullmatch(text.strip()):
        raise ValueError("must be an amount of memory DuckDB understands, such as 4GB, 512MiB or 80%")
    return text.strip()


def _one_line(text: str) -> str:
    if not text.isprintable():
        raise ValueError("must be one line of printable text")
    return text


Line = Annotated[Str, Field(min_length=1, max_length=300), AfterValidator(_one_line)]


@dataclass(frozen=True, config=SECTION)
class ModelConfig:
    """How the wobbling model is trained and used."""

    horizon_months: Annotated[Int, Field(ge=1, le=36)] = 6
    history_months: Annotated[Int, Field(ge=1, le=240)] = 24  # how far back monthly training snapshots go
    # People (in whole households) whose monthly snapshots train the model. Everyone up to 100,000: on two
    # 100,000-person synthetic places, all of them instead of 60,000 took the test precision at capacity from
    # 0.57 to 0.68 and from about 0.50 to 0.65: people entering crisis are rare, and what the model lacked.
    # 150,000 ran out of DuckDB's 4 GB building the 25 training snapshots of a 330,000-person place.
    max_training_people: Annotated[Int, Field(ge=1, le=100_000_000)] = 100_000
    min_wobbling_score: Annotated[Float, Field(ge=0, lt=1)] = 0.05  # below this a person is not listed as wobbling
    max_fairness_gap: Share = 0.25  # largest allowed gap in recall or false-positive rate between groups
    fairness_min_positives: Annotated[Int, Field(ge=1)] = 30  # fewer people entering crisis: reported, not bounded
    seed: Annotated[Int, Field(ge=0, le=2**32 - 1)] = 0
    # Share of the fitting rows that did NOT enter crisis kept for fitting (weighted back by 1/share);
    # every row that did is kept. 0.35 kept precision at capacity on a 100,000-person place at a third
    # of the fitting cost; 1.0 fits on every row.
    fit_negative_share: Annotated[Float, Field(gt=0, le=1)] = 0.35


@dataclass(frozen=True, config=SECTION)
class TransparencyConfig:
    """Who answers for the model, for its card's Algorithmic Transparency Recording Standard fields."""

    organisation: Line = "not recorded: set transparency.organisation in the place configuration"
    team: Line = "not recorded: set transparency.team"
    senior_responsible_owner: Line = "not recorded: set transparency.senior_responsible_owner"
    contact: Line = "not recorded: set transparency.contact"


@dataclass(frozen=True, config=SECTION)
class ValidationConfig:
    """When deliveries are refused and when a whole run publishes nothing."""

    max_refused_share: Share = 0.5  # share of event sources refused above which nothing is published
    key_mismatch_share: Share = 0.5  # share of unmatched pseudonyms that marks a key mismatch
    volume_factor: Annotated[Float, Field(gt=1, le=1_000_000)] = 20.0  # this many times off the usual volume: flagged
    stale_after_days: Days = 7  # a source whose last accepted delivery is older than this is reported stale


@dataclass(frozen=True, config=SECTION)
class SuppressionConfig:
    """Small-number suppression for aggregates: 1..min_count-1 shown as `<min_count`."""

    min_count: Annotated[Int, Field(ge=1, le=1000)] = 10
    round_to: Annotated[Int, Field(ge=1, le=1000)] = 5


@dataclass(frozen=True, config=SECTION)
class ListsConfig:
    """How the teams' own outcomes shape tomorrow's lists (days counted back from the run date); 0 turns one off."""

    already_working_days: Annotated[Int, Field(ge=0, le=3650)] = 90  # `engaged` / `already_supported` this recently
    snooze_days: Annotated[Int, Field(ge=0, le=3650)] = 90  # `declined` / `not_appropriate`: left off unless risk rose
    priorities_only: bool = False  # list only people under at least one of the place's priorities


@dataclass(frozen=True, config=SECTION)
class MeasuresConfig:
    """How the measure stage judges past lists (stratify/measures)."""

    # Realised precision of a past list this far below what the model promised (a share, 0.10 = ten points):
    # a warning in the run's status (never a hold), and the next training is flagged.
    precision_margin: Annotated[Float, Field(gt=0, le=1)] = 0.10
    # The promoted model is re-measured on its latest labelled period at most this often (days); the nights
    # between report the last measurement and its date. A new promoted model is measured on its first night.
    drift_every_days: Annotated[Int, Field(ge=1, le=366)] = 7


@dataclass(frozen=True, config=SECTION)
class AppConfig:
    """The web app (`stratify serve`): where its own state (users, sessions, recorded outcomes, audit) lives."""

    database: Str | None = None  # SQLite file; None: `app.sqlite` beside the warehouse; relative to the config's folder
    oidc: OidcConfig | None = None  # sign-in through the place's identity provider (config.oidc); None: local only
    note_retention_days: Days = 365  # a review's short note is removed this long after it was recorded (app-only)


@dataclass(frozen=True, config=SECTION)
class DuckDBConfig:
    threads: Annotated[Int, Field(ge=1, le=1024)] = 2
    memory_limit: Annotated[Str, AfterValidator(_memory)] = "4GB"


@dataclass(frozen=True, config=SECTION)
class RetentionConfig:
    """How long runs, archived deliveries and quarantined files are kept (`stratify purge`), in days."""

    runs_days: Days = 400  # published runs (the one `latest` points at is always kept)
    archive_days: Days = 2555  # accepted deliveries, by the delivery date in the file name (7 years)
    quarantine_days: Days = 90  # refused and held files with their reasons; failed or held staging folders


def _env_name(value: str) -> str:
    if value and (why := name_problem(value, "env")):
        raise ValueError(why)
    return value


def _variable_name(value: str) -> str:
    if value and (why := name_problem(value, "airflow_variable")):
        raise ValueError(why)
    return value


@dataclass(frozen=True, config=SECTION)
class EncryptionConfig:
    """Where the warehouse's encryption key comes from: names only, never the key itself.

    The key is read at connect time from the environment variable `key_env`,
    else from the Airflow variable `airflow_variable` (served by the
    configured Airflow secrets backend). `allow_unsafe_crypto` lets DuckDB
    write with its built-in mbedtls module when the httpfs extension (OpenSSL)
    is missing: DuckDB itself calls that not securely encrypted (weak random
    nonces), so it is for tests and demos only. No error about this section
    repeats a value from it.
    """

    key_env: Annotated[Str, AfterValidator(_env_name)] = "STRATIFY_WAREHOUSE_KEY"
    airflow_variable: Annotated[Str, AfterValidator(_variable_name)] = ""
    allow_unsafe_crypto: Bool = False

    @model_validator(mode="after")
    def _named_somewhere(self) -> EncryptionConfig:
        if not self.key_env and not self.airflow_variable:
            raise ValueError("name where the key comes from: key_env and/or airflow_variable")
        return self


@dataclass(frozen=True, config=SECTION)
class DropConfig:
    """Where one agency drops its deliveries, when that is not `<landing>/<source>/` itself.

    `location` is an absolute local folder, `sftp://host[:port]/path` or
    `s3://bucket/prefix`, never with credentials: those come at run time from
    the Airflow connection `conn_id`. The pull stage copies new files into the
    landing zone; it deletes at the source only if `delete_at_source`, and with
    `done_marker` it takes only files that have a `<name>.done` beside them.
    Built by `stratify.config.drops`, which checks the location.
    """

    source: Str
    location: Str
    conn_id: Str | None = None
    delete_at_source: Bool = False
    done_marker: Bool = False

    @property
    def scheme(self) -> str:
        """`file`, `sftp` or `s3`."""
        return urlsplit(self.location).scheme if "://" in self.location else "file"
