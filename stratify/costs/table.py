"""A place's unit-cost table: read and checked like a delivery, before anything else runs.

The contract's "Unit-cost table" section: a UTF-8 CSV with columns source,
event_type, cost_gbp, unit, price_year, reference; every event type of every
contract event source exactly once; costs non-negative decimals; units
`per_event`, `per_day` or `per_week`. A table that breaks any rule is refused
whole, with one problem per bad row and column (`UnitCostTableError.problems`),
so the place can fix them all at once.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from stratify.contract import load_contract

UNITS = ("per_event", "per_day", "per_week")
COLUMNS = ("source", "event_type", "cost_gbp", "unit", "price_year", "reference")
REQUIRED = ("source", "event_type", "cost_gbp", "unit", "price_year")
DECIMAL_RE = re.compile(r"^[0-9]+(\.[0-9]+)?$")
PRICE_YEAR_RE = re.compile(r"^([0-9]{4})/([0-9]{2})$")


class UnitCostTableError(ValueError):
    """The unit-cost table breaks the contract; `problems` has one sentence per bad row, column and rule."""

    def __init__(self, path: Path, problems: list[str]):
        self.path = path
        self.problems = [f"costs: {path}: {p}" for p in problems]
        shown = "; ".join(problems[:30]) + (f"; and {len(problems) - 30} more" if len(problems) > 30 else "")
        super().__init__(f"costs: the unit-cost table {path} was refused ({len(problems)} problem(s)): {shown}")


@dataclass(frozen=True)
class UnitCost:
    source: str
    event_type: str
    cost_gbp: Decimal
    unit: str
    price_year: str
    reference: str


@dataclass(frozen=True)
class UnitCostTable:
    """A checked table: one row per contract event type, in file order."""

    path: Path
    rows: tuple[UnitCost, ...]

    @property
    def price_years(self) -> tuple[str, ...]:
        return tuple(sorted({r.price_year for r in self.rows}))

    @property
    def price_year(self) -> str:
        """The price year, or the years joined when a place's table mixes them."""
        return ", ".join(self.price_years)

    @property
    def is_default(self) -> bool:
        from stratify.costs.default_table import DEFAULT_TABLE_PATH

        return self.path.resolve() == DEFAULT_TABLE_PATH.resolve()

    @property
    def source_text(self) -> str:
        """Where the figures come from, for every page that shows them (with the GMCA credit if used)."""
        from stratify.costs.default_table import CREDIT

        if self.is_default:
            return f"the project's default unit costs, from the {CREDIT}"
        credit = any("GMCA" in r.reference or "Unit Cost Database" in r.reference for r in self.rows)
        return f"the place's own unit-cost table {self.path.name}" + (
            f" (some figures from the {CREDIT})" if credit else "")

    def not_costed(self) -> tuple[UnitCost, ...]:
        return tuple(r for r in self.rows if r.cost_gbp == 0)

    def as_columns(self) -> dict[str, list]:
        """Columns for an Arrow table (cost as a float of pounds with two decimals)."""
        return {"source": [r.source for r in self.rows], "event_type": [r.event_type for r in self.rows],
                "cost_gbp": [float(r.cost_gbp) for r in self.rows], "unit": [r.unit for r in self.rows]}


def _row_problems(line: int, row: dict[str, str], known: dict[str, tuple[str, ...]]) -> list[str]:
    problems = []
    where = f"line {line}"
    for col in REQUIRED:
        if not (row.get(col) or "").strip():
            problems.append(f"{where}, column {col}: required, empty")
    source, event_type = (row.get("source") or "").strip(), (row.get("event_type") or "").strip()
    if source and source not in known:
        problems.append(f"{where}, column source: {source!r} is not an event source of the contract "
                        f"({', '.join(known)})")
    elif source and event_type and event_type not in known[source]:
        problems.append(f"{where}, column event_type: {event_type!r} is not a {source} event type of the contract")
    cost = (row.get("cost_gbp") or "").strip()
    if cost and not DECIMAL_RE.match(cost):
        rule = "must be 0 or more" if cost.startswith("-") else "must be a decimal number of pounds, e.g. 116.64"
        problems.append(f"{where}, column cost_gbp: {cost!r} {rule}")
    unit = (row.get("unit") or "").strip()
    if unit and unit not in UNITS:
        problems.append(f"{where}, column unit: {unit!r} is not one of {', '.join(UNITS)}")
    year = (row.get("price_year") or "").strip()
    m = PRICE_YEAR_RE.match(year)
    if year and (not m or (int(m[1]) + 1) % 100 != int(m[2])):
        problems.append(f"{where}, column price_year: {year!r} is not a financial year like 2024/25")
    return problems


def load_unit_costs(path: Path) -> UnitCostTable:
    """Read and check a unit-cost table; raise `UnitCostTableError` naming every bad row."""
    path = Path(path)
    if not path.is_file():
        raise UnitCostTableError(path, ["does not exist; it must be a CSV with columns " + ", ".join(COLUMNS)])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnitCostTableError(path, [f"is not UTF-8 (byte {exc.start})"]) from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    if missing or unknown:
        problems = ([f"line 1: missing column(s) {', '.join(missing)}"] if missing else []) + (
            [f"line 1: unknown column(s) {', '.join(unknown)}"] if unknown else [])
        raise UnitCostTableError(path, problems + [f"line 1: the header must be {','.join(COLUMNS)}"])
    reader.fieldnames = header
    known = {s.name: s.event_types for s in load_contract().event_sources}
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    rows: list[UnitCost] = []
    for line, row in enumerate(reader, start=2):
        if None in row:
            problems.append(f"line {line}: more fields than the header's {len(header)}")
            continue
        found = _row_problems(line, row, known)
        key = ((row["source"] or "").strip(), (row["event_type"] or "").strip())
        if key in seen:
            found.append(f"line {line}, column event_type: {key[0]}.{key[1]} is already on line {seen[key]}; "
                         "each event type appears once")
        seen.setdefault(key, line)
        problems += found
        if not found:
            rows.append(UnitCost(key[0], key[1], Decimal(row["cost_gbp"].strip()), row["unit"].strip(),
                                 row["price_year"].strip(), (row["reference"] or "").strip()))
    for source, types in known.items():
        for event_type in types:
            if (source, event_type) not in seen:
                problems.append(f"no row for {source}.{event_type}: every contract event type must have a cost "
                                "(0 if it is not costed, saying why in reference)")
    if problems:
        raise UnitCostTableError(path, problems)
    return UnitCostTable(path=path.resolve(), rows=tuple(rows))


def default_unit_costs() -> UnitCostTable:
    from stratify.costs.default_table import DEFAULT_TABLE_PATH

    return load_unit_costs(DEFAULT_TABLE_PATH)
