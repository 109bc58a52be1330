"""The place configuration: one YAML file, read once, into one frozen, validated `PlaceConfig`.

Every tool takes `--config FILE`. The keys of the contract's "Place
configuration (version 1)" must keep working; the keys added since all have
defaults, so a version-1 file is a complete configuration. Relative paths
are relative to the YAML file's folder.

The file is checked whole by pydantic (`PlaceFile`, the YAML as written:
kinds, ranges, unknown keys), then against what it refers to: the crisis
rules' features against the feature table the night will build
(`config.features`), the neighbourhoods file's rows (when the file exists:
`stratify synth` writes it) and each drop against the contract and the
landing folder. One `ConfigError` names every problem with its dotted key;
the CLI exits 2 for it.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BeforeValidator, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from stratify.config import messages
from stratify.config.crisis_rules import DEFAULT_RULES, CrisisRule, rule_problems
from stratify.config.drops import parse_drops
from stratify.config.neighbourhoods import TEAM_RE, neighbourhood_problems, read_neighbourhoods
from stratify.config.oidc import OidcConfig
from stratify.config.sections import (
    SECTION,
    AppConfig,
    DropConfig,
    DuckDBConfig,
    EncryptionConfig,
    Int,
    ListsConfig,
    MeasuresConfig,
    ModelConfig,
    RetentionConfig,
    Str,
    SuppressionConfig,
    TransparencyConfig,
    ValidationConfig,
)
from stratify.contract import DomainRule, load_contract, parse_domains
from stratify.errors import ConfigError

PLACE_RE = re.compile(r"[a-z0-9_-]{1,64}")
MAX_RULES = 200


def _place(text: str) -> str:
    if not PLACE_RE.fullmatch(text):
        raise ValueError("required, 1-64 lower-case letters, digits, '_' or '-'")
    return text


def _timezone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("not a time zone of the IANA database, such as Europe/London") from None
    return text


def _path_text(text: str) -> str:
    if not text.strip() or "\x00" in text:
        raise ValueError("must be a path (relative to the configuration file's folder)")
    return text


def _capacity(raw: Any) -> dict[str, int]:
    """`capacity:` default and per-team list sizes, every bad entry named at once."""
    if not isinstance(raw, dict) or "default" not in raw:
        raise ValueError("must be a mapping with at least `default`")
    found = []
    for team, n in raw.items():
        if team != "default" and not TEAM_RE.match(str(team)):
            found.append(f"capacity.{messages._key_name(team)}: not a team code")
        elif not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 100_000:
            found.append(f"capacity.{team}: must be a positive whole number (at most 100,000)")
    if found:
        raise _Several(found)
    return {str(k): v for k, v in raw.items()}


class _Several(ValueError):
    """Several problems of one key, each already a whole sentence with its dotted path."""

    def __init__(self, found: list[str]):
        super().__init__("; ".join(found))
        self.found = found


def _encryption(raw: Any) -> Any:
    """`encryption: true` is the defaults, `false`/absent is none; a null name is an empty one."""
    if raw is True:
        return {}
    if raw is False:
        return None
    if isinstance(raw, dict):
        return {k: ("" if v is None and k in ("key_env", "airflow_variable") else v) for k, v in raw.items()}
    return raw


PathText = Annotated[Str, AfterValidator(_path_text)]


@dataclass(frozen=True, config=SECTION)
class PlaceFile:
    """The YAML file as written: every key's kind and range (paths still as written)."""

    place: Annotated[Str, AfterValidator(_place)]
    landing: PathText
    warehouse: PathText
    out: PathText
    neighbourhoods: PathText
    capacity: Any = None  # checked in parse_config: its keys are team codes
    models: PathText | None = None
    quarantine: PathText | None = None
    archive: PathText | None = None
    timezone: Annotated[Str, AfterValidator(_timezone)] = "Europe/London"
    domains: Any = None  # the contract's table format, checked by contract.parse_domains
    rules: tuple[CrisisRule, ...] | None = None  # None: the default rules; an empty list is refused below
    model: ModelConfig = ModelConfig()
    transparency: TransparencyConfig = TransparencyConfig()
    validation: ValidationConfig = ValidationConfig()
    suppression: SuppressionConfig = SuppressionConfig()
    lists: ListsConfig = ListsConfig()
    measures: MeasuresConfig = MeasuresConfig()
    duckdb: DuckDBConfig = DuckDBConfig()
    drops: Any = None  # checked by config.drops against the contract and the landing folder
    retention: RetentionConfig = RetentionConfig()
    encryption: Annotated[EncryptionConfig | None, BeforeValidator(_encryption)] = None
    costs: Any = None  # a path: checked whole, like a delivery, by stratify.costs.settings.parse_costs
    handoffs: Any = None  # contract event types: stratify.costs.settings.parse_handoffs
    priorities: Any = None  # the place's priorities: stratify.priorities.settings.parse_priorities
    app: AppConfig = AppConfig()


TOP_LEVEL_KEYS = tuple(PlaceFile.__dataclass_fields__)
SECTION_KEYS = {"": TOP_LEVEL_KEYS, **{name: tuple(cls.__dataclass_fields__) for name, cls in (
    ("model", ModelConfig), ("transparency", TransparencyConfig), ("validation", ValidationConfig),
    ("suppression", SuppressionConfig), ("lists", ListsConfig), ("measures", MeasuresConfig), ("duckdb", DuckDBConfig),
    ("retention", RetentionConfig), ("encryption", EncryptionConfig), ("app", AppConfig), ("app.oidc", OidcConfig))}}


@dataclass(frozen=True)
class PlaceConfig:
    """Everything a run of one place needs to know; built by `load_config`."""

    path: Path
    place: str
    landing: Path
    warehouse: Path
    out: Path
    neighbourhoods: Path
    capacity_default: Int
    capacity_by_team: dict[str, int]
    models: Path
    quarantine: Path
    archive: Path
    timezone: Annotated[str, AfterValidator(_timezone)] = "Europe/London"
    rules: tuple[CrisisRule, ...] = DEFAULT_RULES
    domains: tuple[DomainRule, ...] = ()
    model: ModelConfig = ModelConfig()
    transparency: TransparencyConfig = TransparencyConfig()
    validation: ValidationConfig = ValidationConfig()
    suppression: SuppressionConfig = SuppressionConfig()
    lists: ListsConfig = ListsConfig()
    measures: MeasuresConfig = MeasuresConfig()
    duckdb: DuckDBConfig = DuckDBConfig()
    drops: tuple[DropConfig, ...] = ()  # empty: agencies drop straight into the landing folder
    retention: RetentionConfig = RetentionConfig()
    encryption: EncryptionConfig | None = None  # None: the warehouse file is not encrypted
    # Unit costs, handoff types and the place's priorities (stratify/costs, stratify/priorities).
    costs: Any = None  # a stratify.costs.table.UnitCostTable; None only when built by hand
    handoffs: tuple[Any, ...] = ()  # stratify.costs.settings.EventRef
    priorities: tuple[Any, ...] = ()  # stratify.priorities.settings.Priority
    app_database: Path | None = None  # the web app's SQLite file (`app.database`); set by parse_config
    app_oidc: OidcConfig | None = None  # `app.oidc`, its client_secret_file made absolute; None: local log-in only
    app_note_retention_days: int = 365  # `app.note_retention_days`: how long a review's note is kept in the app

    def capacity(self, team: str) -> int:
        return self.capacity_by_team.get(team, self.capacity_default)

    def team_for_lsoa(self) -> dict[str, str]:
        """The neighbourhoods table (lsoa21 -> team), checked on every read."""
        return read_neighbourhoods(self.neighbourhoods)

    @property
    def teams(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.team_for_lsoa().values())))


def parse_config(raw: Any, path: Path) -> PlaceConfig:
    """Check and type a parsed YAML mapping; `path` anchors relative paths.

    Every key is checked before anything is raised: one ConfigError names
    every unknown key, wrong kind and bad value (`ConfigError.problems`).
    """
    path = Path(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the configuration must be a YAML mapping")
    base = path.parent.resolve()
    found: list[str] = []
    try:
        doc = TypeAdapter(PlaceFile).validate_python({str(k): v for k, v in raw.items()})
    except ValidationError as exc:
        doc = None
        found += messages.problems(exc, known=SECTION_KEYS)
    if isinstance(raw.get("rules"), list) and not 1 <= len(raw["rules"]) <= MAX_RULES:
        found.append(f"rules: must be a list of 1 to {MAX_RULES} rules, each {{id, description, feature, op, "
                     "threshold, reason}; leave it out for the default rules")
    capacity = _checked(found, "capacity", _capacity, raw.get("capacity", {"default": 50}))
    domains = _checked(found, "domains", _domains, raw.get("domains"))
    landing = _resolve(base, raw.get("landing")) if isinstance(raw.get("landing"), str) else None
    drops, drop_problems = parse_drops(raw.get("drops"), base, landing)
    found += drop_problems
    rules = doc.rules if doc is not None and doc.rules else DEFAULT_RULES
    if domains is not None and (doc is not None or raw.get("rules") is None):
        from stratify.config.features import known_features

        found += rule_problems(rules, *known_features(domains))
    neighbourhoods = _resolve(base, raw["neighbourhoods"]) if isinstance(raw.get("neighbourhoods"), str) else None
    if neighbourhoods is not None and neighbourhoods.exists():  # absent until `stratify synth` writes it
        mapping, bad_rows = neighbourhood_problems(neighbourhoods)
        found += bad_rows
        teams = set(mapping.values())
        if mapping and not bad_rows and capacity:
            found += [f"capacity.{messages._key_name(team)}: not a team of {neighbourhoods} (its teams: "
                      f"{', '.join(sorted(teams)[:20])})" for team in capacity if team != "default" and team not in teams]
        if mapping and not bad_rows and doc is not None and doc.app.oidc is not None:
            found += doc.app.oidc.team_problems(teams, str(neighbourhoods))
    costs = handoffs = priorities = None
    if doc is not None:
        from stratify.costs.settings import parse_costs, parse_handoffs
        from stratify.priorities.settings import parse_priorities

        costs = _checked(found, "costs", lambda r: parse_costs(base, r), doc.costs)
        handoffs = _checked(found, "handoffs", parse_handoffs, doc.handoffs)
        priorities = _checked(found, "priorities",
                              lambda r: parse_priorities(r, tuple(dict.fromkeys(d.domain for d in domains or ()))),
                              doc.priorities)
    if found or doc is None:
        raise ConfigError(problems=found or [f"{path}: invalid"], where=path)
    warehouse = _resolve(base, doc.warehouse)
    return PlaceConfig(
        path=path.resolve(), place=doc.place, landing=landing, warehouse=warehouse, out=_resolve(base, doc.out),
        neighbourhoods=neighbourhoods, capacity_default=capacity["default"],
        capacity_by_team={k: v for k, v in capacity.items() if k != "default"},
        models=_resolve(base, doc.models) if doc.models else warehouse.parent / "models",
        quarantine=_resolve(base, doc.quarantine) if doc.quarantine else landing.parent / "quarantine",
        archive=_resolve(base, doc.archive) if doc.archive else landing.parent / "archive",
        timezone=doc.timezone, rules=rules, domains=domains, model=doc.model, transparency=doc.transparency,
        validation=doc.validation, suppression=doc.suppression, lists=doc.lists, measures=doc.measures, duckdb=doc.duckdb, drops=drops,
        retention=doc.retention, encryption=doc.encryption, costs=costs, handoffs=handoffs or (),
        priorities=priorities or (),
        app_database=_resolve(base, doc.app.database) if doc.app.database else warehouse.parent / "app.sqlite",
        app_oidc=_oidc(base, doc.app.oidc),
        app_note_retention_days=doc.app.note_retention_days,
    )


def _oidc(base: Path, oidc: OidcConfig | None) -> OidcConfig | None:
    """`app.oidc` with its secret file's path resolved against the configuration's folder."""
    if oidc is None or not oidc.client_secret_file:
        return oidc
    return dataclasses.replace(oidc, client_secret_file=str(_resolve(base, oidc.client_secret_file)))


def _checked(found: list[str], key: str, check: Any, raw: Any) -> Any:
    """`check(raw)`, or None with its problems added to `found`."""
    try:
        return check(raw)
    except _Several as exc:
        found += exc.found
    except ConfigError as exc:  # already one sentence per bad key, each naming it
        found += exc.problems
    except ValueError as exc:
        found.append(f"{key}: {exc}")
    return None


def _resolve(base: Path, text: str) -> Path:
    p = Path(text)
    return (p if p.is_absolute() else base / p).resolve()


def _domains(raw: Any) -> tuple[DomainRule, ...]:
    """`domains:` the evidence for each domain of disadvantage; the contract's table by default."""
    try:
        return tuple(parse_domains(raw or load_contract().raw["domains"]))
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"malformed ({type(exc).__name__}: {messages.shown(str(exc), 120)}); see the contract's "
                         "domains table") from None


def load_config(path: str | Path) -> PlaceConfig:
    """Read and check a place configuration file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"configuration file {path} does not exist")
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        # Only where and what: pyyaml's own text quotes the offending line, which may hold a pasted key.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or 'cannot be parsed'}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({type(exc).__name__})") from None
    return parse_config(raw, path)
