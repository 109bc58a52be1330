"""The one way a name reaches SQL text: `quote_identifier`, checked against the contract and the schema.

Values are always bound parameters; a table or column name cannot be, so it
is quoted here, and only if it is a name stratify itself defines: a table of
the warehouse's DDL (`warehouse/*.sql`), a fixed working table of the
stages, a column or source of the data contract, a feature column generated
from the contract, or a name on the caller's own allow-list (a fixed tuple,
or names read from the warehouse's catalogue). Anything else is refused
before it can reach SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from stratify.errors import WarehouseError
from stratify.resources import DDL_DIR

IDENTIFIER_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
DDL_TABLE_RE = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\s+|TEMPORARY\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"
                          r"([a-z_][a-z0-9_]*)", re.IGNORECASE)
# Tables the stages create outside the DDL files (link, features, rules, scoring, training).
STAGE_TABLES = frozenset({
    "persons", "train_persons", "neighbourhoods", "register_known", "feat_person", "feat_train", "feature_dates",
    "known_events", "domain_events", "feat_agency", "feat_event_counts", "feat_smd", "feat_household",
    "domain_map", "crisis", "scores", "lists",
})
COUNT_WINDOWS = (90, 365)  # as features.build counts events


@lru_cache(maxsize=1)
def known_identifiers() -> frozenset[str]:
    """Every name stratify defines: DDL tables, stage tables, the contract's sources and columns and feature counts."""
    from stratify.contract import load_contract

    contract = load_contract()
    names = set(STAGE_TABLES)
    for path in sorted(DDL_DIR.glob("*.sql")):
        names.update(m.lower() for m in DDL_TABLE_RE.findall(path.read_text(encoding="utf-8")))
    for source in contract.sources.values():
        names.add(source.name)
        names.update(source.column_names)
    for source in contract.event_sources:
        names.update(f"{source.name}_{e}_{w}d" for e in source.event_types for w in COUNT_WINDOWS)
    return frozenset(n for n in names if IDENTIFIER_RE.fullmatch(n))


def quote_identifier(name: str, allowed: Iterable[str] | None = None) -> str:
    """`"name"` for SQL text, only if `name` is a known name (or in `allowed`) and a plain identifier."""
    if not isinstance(name, str) or not IDENTIFIER_RE.fullmatch(name):
        raise WarehouseError(f"refusing to put {name!r} into SQL: not a plain identifier ([a-z_][a-z0-9_]*)")
    if name not in known_identifiers() and (allowed is None or name not in set(allowed)):
        raise WarehouseError(f"refusing to put {name!r} into SQL: not a table or column stratify defines")
    return f'"{name}"'


def render_identifier(name: str, allowed: Iterable[str]) -> str:
    """`"name"` only if it is on the caller's allow-list; quoted by `quote_identifier`."""
    allowed = set(allowed)
    if name not in allowed:
        raise WarehouseError(f"refusing to put {name!r} into SQL: not one of the known names")
    return quote_identifier(name, allowed)
