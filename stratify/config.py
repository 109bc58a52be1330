"""The place configuration: one YAML file, read once, into frozen typed objects.

Every tool takes `--config FILE`. The keys of the contract's "Place
configuration (version 1)" must keep working; the keys added here all have
defaults, so a version-1 file is a complete configuration. Relative paths are
relative to the YAML file's folder. Errors name the offending key.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from stratify.contract import DomainRule, load_contract, parse_domains

PLACE_RE = re.compile(r"^[a-z0-9_-]+$")
TEAM_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
RULE_OPS = (">=", ">", "<=", "<", "==")
DROP_SCHEMES = ("sftp", "s3")
DROP_KEYS = ("location", "conn_id", "delete_at_source", "done_marker")
CONN_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")


class ConfigError(ValueError):
    """The place configuration is invalid; the message names the key and what to do.

    `problems` holds one sentence per bad key: `parse_config` checks every
    key before it raises, so one run of the command names them all.
    """

    def __init__(self, message: str = "", problems: list[str] | None = None, where: Path | str | None = None):
        self.problems = list(problems) if problems else [message]
        if len(self.problems) == 1:
            text = self.problems[0]
        else:
            text = (f"{len(self.problems)} problems" + (f" in {where}" if where else "") + ": "
                    + "; ".join(self.problems))
        super().__init__(text)


class Problems:
    """Collects every ConfigError of a configuration instead of stopping at the first."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def add(self, message: str) -> None:
        self.found.append(message)

    def take(self, fn: Any, *args: Any, default: Any = None) -> Any:
        """`fn(*args)`, or `default` with its problems kept when it raises ConfigError."""
        try:
            return fn(*args)
        except ConfigError as exc:
            self.found.extend(exc.problems)
            return default

    def raise_any(self, where: Path | str | None = None) -> None:
        if self.found:
            raise ConfigError(problems=self.found, where=where)

    @staticmethod
    def check_all(messages: Any) -> None:
        """Raise one ConfigError naming every message given, if any."""
        found = Problems()
        for m in messages:
            found.add(m)
        found.raise_any()


@dataclass(frozen=True)
class CrisisRule:
    """A transparent crisis rule: `feature op threshold`, with a plain-English reason.

    `reason` is a template filled from the person's features, e.g.
    "{ae_attendance_90d} A&E attendances in 90 days".
    """

    id: str
    description: str
    feature: str
    op: str
    threshold: float
    reason: str


DEFAULT_RULES: tuple[CrisisRule, ...] = (
    CrisisRule(
        "smd_3plus",
        "Three or more domains of severe and multiple disadvantage active in the last 12 months",
        "smd_domains_365d", ">=", 3,
        "{smd_domains_365d} disadvantage domains active in 12 months ({smd_domain_names_365d})",
    ),
    CrisisRule(
        "high_intensity_ae",
        "High-intensity use of A&E: five or more attendances in 90 days",
        "health_ae_attendance_90d", ">=", 5,
        "{health_ae_attendance_90d} A&E attendances in 90 days",
    ),
    CrisisRule(
        "high_intensity_police",
        "High-intensity police contact: six or more contacts in 90 days",
        "police_events_90d", ">=", 6,
        "{police_events_90d} police contacts in 90 days",
    ),
    CrisisRule(
        "high_intensity_homelessness",
        "Repeated homelessness: three or more homelessness events in 90 days",
        "smd_homelessness_events_90d", ">=", 3,
        "{smd_homelessness_events_90d} homelessness events in 90 days",
    ),
)


@dataclass(frozen=True)
class ModelConfig:
    """How the wobbling model is trained and used."""

    horizon_months: int = 6
    history_months: int = 24  # how far back monthly training snapshots go
    # People (in whole households) whose monthly snapshots train the model. Everyone up to 100,000: on two
    # 100,000-person synthetic places, all of them instead of 60,000 took the test precision at capacity from
    # 0.57 to 0.68 and from about 0.50 to 0.65: people entering crisis are rare, and what the model lacked.
    # 150,000 ran out of DuckDB's 4 GB building the 25 training snapshots of a 330,000-person place.
    max_training_people: int = 100_000
    min_wobbling_score: float = 0.05  # below this a person is not listed as wobbling
    max_fairness_gap: float = 0.25  # largest allowed gap in recall or false-positive rate between groups
    fairness_min_positives: int = 30  # groups with fewer people entering crisis are reported, not bounded
    seed: int = 0
    # Share of the fitting rows that did NOT enter crisis kept for fitting (weighted back by 1/share);
    # every row that did is kept. 0.35 kept precision at capacity on a 100,000-person place at a third
    # of the fitting cost; 1.0 fits on every row.
    fit_negative_share: float = 0.35

    def __post_init__(self) -> None:
        if not 0 < self.fit_negative_share <= 1:
            raise ConfigError(f"model.fit_negative_share: must be above 0 and at most 1, got {self.fit_negative_share}")


@dataclass(frozen=True)
class TransparencyConfig:
    """Who answers for the model, for its card's Algorithmic Transparency Recording Standard fields."""

    organisation: str = "not recorded: set transparency.organisation in the place configuration"
    team: str = "not recorded: set transparency.team"
    senior_responsible_owner: str = "not recorded: set transparency.senior_responsible_owner"
    contact: str = "not recorded: set transparency.contact"


@dataclass(frozen=True)
class ValidationConfig:
    """When deliveries are refused and when a whole run publishes nothing."""

    max_refused_share: float = 0.5  # share of event sources refused above which nothing is published
    key_mismatch_share: float = 0.5  # share of unmatched pseudonyms that marks a key mismatch
    volume_factor: float = 20.0  # a delivery this many times off the source's usual volume is flagged
    stale_after_days: int = 7  # a source whose last accepted delivery is older than this is reported stale


@dataclass(frozen=True)
class SuppressionConfig:
    """Small-number suppression for aggregates: 1..min_count-1 shown as `<min_count`."""

    min_count: int = 10
    round_to: int = 5


@dataclass(frozen=True)
class ListsConfig:
    """How the teams' own outcomes shape tomorrow's lists (days counted back from the run date)."""

    already_working_days: int = 90  # `engaged` / `already_supported` this recently: shown under "already working with"
    snooze_days: int = 90  # `declined` / `not_appropriate` this recently: left off unless the risk rose a tier


@dataclass(frozen=True)
class DuckDBConfig:
    threads: int = 2
    memory_limit: str = "4GB"


@dataclass(frozen=True)
class RetentionConfig:
    """How long runs, archived deliveries and quarantined files are kept (`stratify purge`), in days."""

    runs_days: int = 400  # published runs (the one `latest` points at is always kept)
    archive_days: int = 2555  # accepted deliveries, by the delivery date in the file name (7 years)
    quarantine_days: int = 90  # refused and held files with their reasons; failed or held staging folders


@dataclass(frozen=True)
class EncryptionConfig:
    """Where the warehouse's encryption key comes from: names only, never the key itself.

    The key is read at connect time from the environment variable `key_env`,
    else from the Airflow variable `airflow_variable` (served by the
    configured Airflow secrets backend). `allow_unsafe_crypto` lets DuckDB
    write with its built-in mbedtls module when the httpfs extension (OpenSSL)
    is missing: DuckDB itself calls that not securely encrypted (weak random
    nonces), so it is for tests and demos only.
    """

    key_env: str = "STRATIFY_WAREHOUSE_KEY"
    airflow_variable: str = ""
    allow_unsafe_crypto: bool = False


@dataclass(frozen=True)
class DropConfig:
    """Where one agency drops its deliveries, when that is not `<landing>/<source>/` itself.

    `location` is an absolute local folder, `sftp://host[:port]/path` or
    `s3://bucket/prefix`, never with credentials: those come at run time from
    the Airflow connection `conn_id`. The pull stage copies new files into the
    landing zone; it deletes at the source only if `delete_at_source`, and with
    `done_marker` it takes only files that have a `<name>.done` beside them.
    """

    source: str
    location: str
    conn_id: str | None = None
    delete_at_source: bool = False
    done_marker: bool = False

    @property
    def scheme(self) -> str:
        """`file`, `sftp` or `s3`."""
        return urlsplit(self.location).scheme if "://" in self.location else "file"


@dataclass(frozen=True)
class PlaceConfig:
    """Everything a run of one place needs to know; built by `load_config`."""

    path: Path
    place: str
    landing: Path
    warehouse: Path
    out: Path
    neighbourhoods: Path
    capacity_default: int
    capacity_by_team: dict[str, int]
    models: Path
    quarantine: Path
    archive: Path
    timezone: str = "Europe/London"
    rules: tuple[CrisisRule, ...] = DEFAULT_RULES
    domains: tuple[DomainRule, ...] = ()
    model: ModelConfig = field(default_factory=ModelConfig)
    transparency: TransparencyConfig = field(default_factory=TransparencyConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    suppression: SuppressionConfig = field(default_factory=SuppressionConfig)
    lists: ListsConfig = field(default_factory=ListsConfig)
    duckdb: DuckDBConfig = field(default_factory=DuckDBConfig)
    drops: tuple[DropConfig, ...] = ()  # empty: agencies drop straight into the landing folder
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    encryption: EncryptionConfig | None = None  # None: the warehouse file is not encrypted

    def capacity(self, team: str) -> int:
        return self.capacity_by_team.get(team, self.capacity_default)

    def team_for_lsoa(self) -> dict[str, str]:
        """The neighbourhoods table (lsoa21 -> team), checked on every read."""
        return read_neighbourhoods(self.neighbourhoods)

    @property
    def teams(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.team_for_lsoa().values())))


def read_neighbourhoods(path: Path) -> dict[str, str]:
    """Read `lsoa21,team` rows, refusing malformed codes with the row number."""
    if not path.exists():
        raise ConfigError(f"neighbourhoods: {path} does not exist; it must be a CSV with columns lsoa21,team")
    lsoa_re = re.compile(load_contract().patterns["lsoa21"])
    mapping: dict[str, str] = {}
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or {"lsoa21", "team"} - set(reader.fieldnames):
            raise ConfigError(f"neighbourhoods: {path} must have a header with columns lsoa21,team")
        for i, row in enumerate(reader, start=2):
            lsoa, team = (row["lsoa21"] or "").strip(), (row["team"] or "").strip()
            if not lsoa_re.match(lsoa):
                raise ConfigError(f"neighbourhoods: {path} line {i}: lsoa21 is not an LSOA 2021 code (E01 + 6 digits)")
            if not TEAM_RE.match(team):
                raise ConfigError(f"neighbourhoods: {path} line {i}: team code must be 1-64 of [A-Za-z0-9_-]")
            if mapping.get(lsoa, team) != team:
                raise ConfigError(f"neighbourhoods: {path} line {i}: LSOA {lsoa} is mapped to two teams")
            mapping[lsoa] = team
    if not mapping:
        raise ConfigError(f"neighbourhoods: {path} maps no LSOA to a team")
    return mapping


def _dataclass_from(cls: type, key: str, raw: Any) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: must be a mapping")
    known = set(cls.__dataclass_fields__)
    unknown = set(raw) - known
    found = Problems()
    if unknown:
        found.add(f"{key}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; known: {', '.join(sorted(known))}")
    defaults = cls()
    values = {}
    for k, v in raw.items():
        if k in unknown:
            continue
        expected = type(getattr(defaults, k))
        if expected is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not isinstance(v, expected) or isinstance(v, bool) != (expected is bool):
            found.add(f"{key}.{k}: expected {expected.__name__}, got {v!r}")
            continue
        values[k] = v
    built = found.take(lambda: cls(**values))
    found.raise_any()
    return built


def _rules(raw: Any) -> tuple[CrisisRule, ...]:
    if raw is None:
        return DEFAULT_RULES
    if not isinstance(raw, list) or not raw:
        raise ConfigError("rules: must be a non-empty list of {id, description, feature, op, threshold, reason}")
    found = Problems()
    rules = [found.take(_rule, i, r) for i, r in enumerate(raw)]
    ids = [r.id for r in rules if r is not None]
    if len(set(ids)) != len(ids):
        found.add("rules: rule ids must be unique")
    found.raise_any()
    return tuple(rules)


def _rule(i: int, r: Any) -> CrisisRule:
    """One crisis rule, every bad key of it named."""
    key = f"rules[{i}]"
    if not isinstance(r, dict):
        raise ConfigError(f"{key}: must be a mapping")
    missing = {"id", "description", "feature", "op", "threshold", "reason"} - set(r)
    if missing:
        raise ConfigError(f"{key}: missing key(s) {', '.join(sorted(missing))}")
    found = Problems()
    if r["op"] not in RULE_OPS:
        found.add(f"{key}.op: {r['op']!r} is not one of {', '.join(RULE_OPS)}")
    if not re.match(r"^[a-z][a-z0-9_]*$", str(r["feature"])):
        found.add(f"{key}.feature: {r['feature']!r} is not a feature name")
    if not isinstance(r["threshold"], (int, float)) or isinstance(r["threshold"], bool):
        found.add(f"{key}.threshold: must be a number")
    found.raise_any()
    return CrisisRule(str(r["id"]), str(r["description"]), r["feature"], r["op"], float(r["threshold"]), str(r["reason"]))


def _path(base: Path, raw: dict[str, Any], key: str, default: Path | None = None) -> Path:
    value = raw.get(key)
    if value is None:
        if default is None:
            raise ConfigError(f"{key}: required (a path, relative to the configuration file's folder)")
        return default
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: must be a path")
    p = Path(value)
    return (p if p.is_absolute() else base / p).resolve()


def _drop_location(key: str, location: str, conn_id: str | None, base: Path, landing: Path) -> str:
    """A checked drop location: a resolved local folder outside the landing zone, or a credential-free URL."""
    if "://" not in location:
        if conn_id is not None:
            raise ConfigError(f"{key}.conn_id: a local folder needs no connection; remove conn_id")
        p = Path(location)
        p = (p if p.is_absolute() else base / p).resolve()
        if p.is_relative_to(landing):
            raise ConfigError(f"{key}.location: {p} is inside the landing folder {landing}; a drop must be outside it "
                              "(without a drop, agencies deliver straight into <landing>/<source>/)")
        return str(p)
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme not in DROP_SCHEMES:
        raise ConfigError(f"{key}.location: {scheme}:// is not supported; use a local folder, "
                          "sftp://host[:port]/path or s3://bucket/prefix")
    if "@" in parts.netloc:  # the location is not echoed: it may hold a password
        raise ConfigError(f"{key}.location: credentials do not belong in the configuration file; remove the "
                          f"user[:password]@ part and put them in the Airflow connection named by {key}.conn_id")
    if parts.query or parts.fragment:
        raise ConfigError(f"{key}.location: must not carry a ?query or #fragment; options and credentials "
                          "belong in the Airflow connection")
    if not parts.hostname:
        raise ConfigError(f"{key}.location: {scheme}:// needs a {'host' if scheme == 'sftp' else 'bucket'}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{key}.location: the port must be a number from 1 to 65535") from None
    if scheme == "s3" and port is not None:
        raise ConfigError(f"{key}.location: s3://bucket/prefix takes no port; set an endpoint in the connection")
    if scheme == "sftp" and conn_id is None:
        raise ConfigError(f"{key}.conn_id: required for sftp:// (the Airflow connection holding the login "
                          "and password or key, and the server's host key)")
    return urlunsplit((scheme, parts.netloc, parts.path or "/", "", ""))


def _drops(base: Path, raw: Any, landing: Path) -> tuple[DropConfig, ...]:
    """`drops:` source -> {location, conn_id, delete_at_source, done_marker}, checked against the contract."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise ConfigError("drops: must be a mapping source -> {location, conn_id, delete_at_source, done_marker}")
    found = Problems()
    drops = [found.take(_drop, base, source, spec, landing) for source, spec in raw.items()]
    found.raise_any()
    return tuple(drops)


def _drop(base: Path, source: Any, spec: Any, landing: Path) -> DropConfig:
    """One agency's drop, checked against the contract; every bad key of it named."""
    sources = load_contract().source_names
    key = f"drops.{source}"
    if source not in sources:
        raise ConfigError(f"{key}: {source!r} is not a source of the contract; sources: {', '.join(sources)}")
    if not isinstance(spec, dict):
        raise ConfigError(f"{key}: must be a mapping with at least `location`")
    found = Problems()
    unknown = set(spec) - set(DROP_KEYS)
    if unknown:
        found.add(f"{key}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; known: {', '.join(DROP_KEYS)}")
    location, conn_id = spec.get("location"), spec.get("conn_id")
    if conn_id is not None and (not isinstance(conn_id, str) or not CONN_ID_RE.match(conn_id)):
        found.add(f"{key}.conn_id: must be an Airflow connection id ([A-Za-z0-9_.-])")
    for flag in ("delete_at_source", "done_marker"):
        if not isinstance(spec.get(flag, False), bool):
            found.add(f"{key}.{flag}: expected true or false")
    if not isinstance(location, str) or not location.strip():
        found.add(f"{key}.location: required, a local folder, sftp://host[:port]/path or s3://bucket/prefix")
    elif not any(p.startswith(f"{key}.conn_id") for p in found.found):
        location = found.take(_drop_location, key, location.strip(), conn_id, base, landing)
    found.raise_any()
    return DropConfig(source=source, location=location, conn_id=conn_id,
                      delete_at_source=spec.get("delete_at_source", False),
                      done_marker=spec.get("done_marker", False))


def _retention(raw: Any) -> RetentionConfig:
    """`retention:` days to keep each kind of file; every value a positive whole number."""
    retention = _dataclass_from(RetentionConfig, "retention", raw)
    Problems.check_all(f"retention.{name}: must be a positive number of days"
                       for name in RetentionConfig.__dataclass_fields__ if getattr(retention, name) < 1)
    return retention


def _lists(raw: Any) -> ListsConfig:
    """`lists:` outcome windows in days; 0 turns a window off."""
    lists = _dataclass_from(ListsConfig, "lists", raw)
    Problems.check_all(f"lists.{name}: must be a whole number of days, 0 or more"
                       for name in ListsConfig.__dataclass_fields__ if getattr(lists, name) < 0)
    return lists


ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
AIRFLOW_VARIABLE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")
KEY_LIKE_RE = re.compile(r"(^|_)(key|secret|password|passphrase|token)$|^encryption_key$", re.IGNORECASE)


def _encryption(raw: Any) -> EncryptionConfig | None:
    """`encryption:` names where the key comes from; a key value anywhere in it is refused.

    No message here repeats a value from this section: a misplaced key would
    otherwise end up in logs.
    """
    if raw is None or raw is False:
        return None
    if raw is True:
        return EncryptionConfig()
    if not isinstance(raw, dict):
        raise ConfigError("encryption: must be a mapping {key_env, airflow_variable, allow_unsafe_crypto}")
    known = set(EncryptionConfig.__dataclass_fields__)
    for k in raw:
        if k not in known and KEY_LIKE_RE.search(str(k)):
            raise ConfigError(
                f"encryption.{k}: the encryption key must never be in the configuration file; put it in the "
                "environment variable named by encryption.key_env (default STRATIFY_WAREHOUSE_KEY) or in an "
                "Airflow secrets backend (encryption.airflow_variable), and remove it from this file")
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"encryption: unknown key(s) {', '.join(sorted(map(str, unknown)))}; known: {', '.join(sorted(known))}")
    key_env = raw.get("key_env", EncryptionConfig.key_env)
    variable = raw.get("airflow_variable", "") or ""
    unsafe = raw.get("allow_unsafe_crypto", False)
    if key_env is not None and (not isinstance(key_env, str) or not ENV_NAME_RE.match(key_env)):
        raise ConfigError("encryption.key_env: must be the NAME of an environment variable (A-Z, 0-9, _), "
                          "never the key itself")
    if not isinstance(variable, str) or (variable and not AIRFLOW_VARIABLE_RE.match(variable)):
        raise ConfigError("encryption.airflow_variable: must be the NAME of an Airflow variable "
                          "(letters, digits, _ . -), never the key itself")
    if not key_env and not variable:
        raise ConfigError("encryption: name where the key comes from: key_env and/or airflow_variable")
    if not isinstance(unsafe, bool):
        raise ConfigError("encryption.allow_unsafe_crypto: expected true or false")
    return EncryptionConfig(key_env=key_env or "", airflow_variable=variable, allow_unsafe_crypto=unsafe)


TOP_LEVEL_KEYS = {
    "place", "landing", "warehouse", "out", "neighbourhoods", "capacity", "models",
    "quarantine", "archive", "timezone", "rules", "domains", "model", "validation",
    "suppression", "lists", "duckdb", "transparency", "drops", "retention", "encryption",
}


def parse_config(raw: Any, path: Path) -> PlaceConfig:
    """Check and type a parsed YAML mapping; `path` anchors relative paths.

    Every key is checked before anything is raised: one ConfigError names
    every unknown key, wrong type and bad value (`ConfigError.problems`).
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the configuration must be a YAML mapping")
    found = Problems()
    unknown = set(raw) - TOP_LEVEL_KEYS
    for k in sorted(unknown, key=str):
        if KEY_LIKE_RE.search(str(k)):
            found.add(f"{k}: keys and secrets must never be in the configuration file; for the warehouse "
                      "key use encryption.key_env (an environment variable's name) or encryption.airflow_variable")
    plain = sorted(str(k) for k in unknown if not KEY_LIKE_RE.search(str(k)))
    if plain:
        found.add(f"{', '.join(plain)}: unknown key(s); known: {', '.join(sorted(TOP_LEVEL_KEYS))}")
    place = raw.get("place")
    if not isinstance(place, str) or not PLACE_RE.match(place):
        found.add("place: required, lower-case letters, digits, '_' or '-'")
    base = path.parent.resolve()
    landing = found.take(_path, base, raw, "landing")
    warehouse = found.take(_path, base, raw, "warehouse")
    cap = found.take(_capacity, raw.get("capacity", {"default": 50}), default={"default": 50})
    domains = found.take(_domains, raw.get("domains"))
    config = dict(
        out=found.take(_path, base, raw, "out"),
        neighbourhoods=found.take(_path, base, raw, "neighbourhoods"),
        models=found.take(_path, base, raw, "models", (warehouse or base).parent / "models"),
        quarantine=found.take(_path, base, raw, "quarantine", (landing or base).parent / "quarantine"),
        archive=found.take(_path, base, raw, "archive", (landing or base).parent / "archive"),
        rules=found.take(_rules, raw.get("rules")),
        model=found.take(_dataclass_from, ModelConfig, "model", raw.get("model")),
        transparency=found.take(_dataclass_from, TransparencyConfig, "transparency", raw.get("transparency")),
        validation=found.take(_dataclass_from, ValidationConfig, "validation", raw.get("validation")),
        suppression=found.take(_dataclass_from, SuppressionConfig, "suppression", raw.get("suppression")),
        lists=found.take(_lists, raw.get("lists")),
        duckdb=found.take(_dataclass_from, DuckDBConfig, "duckdb", raw.get("duckdb")),
        drops=found.take(_drops, base, raw.get("drops"), landing or base),
        retention=found.take(_retention, raw.get("retention")),
        encryption=found.take(_encryption, raw.get("encryption")),
    )
    found.raise_any(path)
    return PlaceConfig(
        path=path.resolve(),
        place=place,
        landing=landing,
        warehouse=warehouse,
        capacity_default=cap["default"],
        capacity_by_team={str(k): v for k, v in cap.items() if k != "default"},
        timezone=str(raw.get("timezone", "Europe/London")),
        domains=domains,
        **config,
    )


def _capacity(cap: Any) -> dict:
    """`capacity:` default and per-team list sizes, every bad entry named."""
    if not isinstance(cap, dict) or "default" not in cap:
        raise ConfigError("capacity: must be a mapping with at least `default`")
    found = Problems()
    for team, n in cap.items():
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            found.add(f"capacity.{team}: must be a positive whole number")
        if team != "default" and not TEAM_RE.match(str(team)):
            found.add(f"capacity.{team}: not a team code")
    found.raise_any()
    return cap


def _domains(raw: Any) -> tuple[DomainRule, ...]:
    """`domains:` the evidence for each domain of disadvantage; the contract's table by default."""
    try:
        return parse_domains(raw or load_contract().raw["domains"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"domains: malformed ({exc}); see the contract's domains table") from exc


def load_config(path: str | Path) -> PlaceConfig:
    """Read and check a place configuration file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"configuration file {path} does not exist")
    with open(path, encoding="utf-8") as fh:
        try:
            raw = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_config(raw, path)
