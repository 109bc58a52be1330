"""The extract data contract (version 1) as typed, immutable objects.

`contract.yaml` beside this module is the one machine-readable copy of the
contract. Everything that needs to know what a delivery looks like (the
loader, the GX suite generator, the synthetic generator, the docs) asks this
module, so the code and the specification cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from stratify.resources import CONTRACT_PATH

COLUMN_TYPES = ("string", "date", "boolean", "integer", "decimal")


class ContractError(ValueError):
    """The contract file itself is malformed (a maintainer's error, not a supplier's)."""


@dataclass(frozen=True)
class Column:
    """One column of a source, with the rules a delivered value must meet."""

    name: str
    type: str
    required: bool = False
    pattern: str | None = None  # a regular expression (already resolved from `patterns`)
    pattern_name: str | None = None
    codes: tuple[str, ...] | None = None  # closed code list, if any
    codes_from_config: bool = False  # codes are the place's configured teams
    unique: bool = False
    min: Any = None  # number, date, or the string "delivery_date"
    max: Any = None
    not_before: str | None = None  # another column this one must not precede
    only_for_event_types: tuple[str, ...] | None = None
    age_range: tuple[int, int] | None = None
    default: Any = None

    @property
    def is_closed_code_list(self) -> bool:
        """True when values are from a fixed list, so they may be shown in reports."""
        return self.codes is not None or self.codes_from_config


@dataclass(frozen=True)
class Source:
    """One delivering source: its kind, agency and columns in contract order."""

    name: str
    kind: str  # "register", "event" or "outcome"
    agency: str
    columns: tuple[Column, ...]
    event_types: tuple[str, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"source {self.name!r} has no column {name!r} in contract v1")


@dataclass(frozen=True)
class DomainRule:
    """Evidence for one SMD domain: events of a source, optionally filtered."""

    domain: str
    source: str
    event_types: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    icd10_from: str | None = None
    icd10_to: str | None = None


@dataclass(frozen=True)
class DeliveryName:
    """What a delivery's file name says about it."""

    source: str
    delivery_date: date
    seq: int
    ext: str


@dataclass(frozen=True)
class Contract:
    version: int
    file_name_pattern: str
    sources: dict[str, Source]
    patterns: dict[str, str]
    types: dict[str, dict[str, str]]
    min_event_date: date
    identifier_name_patterns: dict[str, str]
    domains: tuple[DomainRule, ...]
    list_columns: tuple[str, ...]
    tiers: tuple[str, ...]
    changes: tuple[str, ...]
    list_separator: str
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def source_names(self) -> tuple[str, ...]:
        return tuple(self.sources)

    @property
    def event_sources(self) -> tuple[Source, ...]:
        return tuple(s for s in self.sources.values() if s.kind == "event")

    def source(self, name: str) -> Source:
        try:
            return self.sources[name]
        except KeyError:
            raise KeyError(
                f"{name!r} is not a source of contract v{self.version}; "
                f"expected one of {', '.join(self.sources)}"
            ) from None

    def parse_file_name(self, file_name: str) -> DeliveryName | None:
        """Read source, date and sequence from a delivery file name, or None if it is not one."""
        m = re.fullmatch(self.file_name_pattern, file_name)  # whole names: `$` would match before a trailing newline
        if not m or m["source"] not in self.sources:
            return None
        try:
            d = date(int(m["date"][:4]), int(m["date"][4:6]), int(m["date"][6:]))
        except ValueError:
            return None
        return DeliveryName(m["source"], d, int(m["seq"] or 1), m["ext"])

    def identifier_kind(self, column_name: str) -> str | None:
        """The kind of direct identifier a column name suggests, or None.

        Contract columns are never identifiers (e.g. `birth_year_month`,
        `household_id`), whatever their names look like.
        """
        if any(column_name in s.column_names for s in self.sources.values()):
            return None
        norm = re.sub(r"[^a-z0-9]", "", column_name.lower())
        for kind, pat in self.identifier_name_patterns.items():
            if re.search(pat, norm):
                return kind
        return None

    def all_event_types(self) -> set[tuple[str, str]]:
        return {(s.name, e) for s in self.event_sources for e in s.event_types}


def _column(spec: dict[str, Any], patterns: dict[str, str], event_types: tuple[str, ...]) -> Column:
    spec = dict(spec)
    if spec.get("type") not in COLUMN_TYPES:
        raise ContractError(f"column {spec.get('name')!r}: unknown type {spec.get('type')!r}")
    pattern_name = spec.pop("pattern", None)
    if pattern_name is not None and pattern_name not in patterns:
        raise ContractError(f"column {spec['name']!r}: unknown pattern {pattern_name!r}")
    codes = spec.pop("codes", None)
    codes_from_config = codes == "configured_teams"
    if codes == "event_types":
        codes = event_types
    elif codes_from_config:
        codes = None
    for key in ("only_for_event_types", "age_range"):
        if key in spec:
            spec[key] = tuple(spec[key])
    return Column(
        pattern=patterns.get(pattern_name) if pattern_name else None,
        pattern_name=pattern_name,
        codes=tuple(codes) if codes is not None else None,
        codes_from_config=codes_from_config,
        **spec,
    )


def _source(name: str, spec: dict[str, Any], raw: dict[str, Any]) -> Source:
    patterns = raw["patterns"]
    event_types = tuple(spec.get("event_types", ()))
    if spec["kind"] == "event":
        col_specs = list(raw["common_event_columns"]) + list(spec.get("extra_columns", []))
    else:
        col_specs = list(spec["columns"])
    columns = tuple(_column(c, patterns, event_types) for c in col_specs)
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise ContractError(f"source {name!r} defines a column twice")
    return Source(name=name, kind=spec["kind"], agency=spec["agency"], columns=columns, event_types=event_types)


def parse_domains(spec: dict[str, list[dict[str, Any]]]) -> tuple[DomainRule, ...]:
    """Turn a `domains:` mapping (from the contract or a place config) into rules."""
    rules = []
    for domain, items in spec.items():
        for item in items:
            rules.append(
                DomainRule(
                    domain=domain,
                    source=item["source"],
                    event_types=tuple(item.get("event_types", ())),
                    roles=tuple(item.get("roles", ())),
                    icd10_from=item.get("icd10_from"),
                    icd10_to=item.get("icd10_to"),
                )
            )
    return tuple(rules)


def parse_contract(raw: dict[str, Any]) -> Contract:
    """Build a `Contract` from the parsed YAML, checking it is self-consistent."""
    sources = {name: _source(name, spec, raw) for name, spec in raw["sources"].items()}
    domains = parse_domains(raw["domains"])
    known = {(s.name, e) for s in sources.values() for e in s.event_types}
    for rule in domains:
        for e in rule.event_types:
            if (rule.source, e) not in known:
                raise ContractError(f"domain {rule.domain!r}: {rule.source}.{e} is not a contract event type")
    pl = raw["published_list"]
    return Contract(
        version=int(raw["version"]),
        file_name_pattern=raw["file_name_pattern"],
        sources=sources,
        patterns=dict(raw["patterns"]),
        types={k: dict(v or {}) for k, v in raw["types"].items()},
        min_event_date=date.fromisoformat(raw["min_event_date"]),
        identifier_name_patterns=dict(raw["direct_identifier_name_patterns"]),
        domains=domains,
        list_columns=tuple(pl["columns"]),
        tiers=tuple(pl["tiers"]),
        changes=tuple(pl["changes"]),
        list_separator=pl["separator"],
        raw=raw,
    )


@cache
def load_contract(path: Path = CONTRACT_PATH) -> Contract:
    """The contract the pipeline enforces (cached: it is read-only)."""
    with open(path, encoding="utf-8") as fh:
        return parse_contract(yaml.safe_load(fh))


def is_valid_nhs_number(digits: str) -> bool:
    """True if `digits` is ten digits passing the NHS modulus-11 check digit."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1)))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])
