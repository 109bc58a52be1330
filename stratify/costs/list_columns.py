"""What the lists add from the costs stage: `cost_12m_gbp`, `assessments_12m`, `priorities` (contract list columns).

For the rank stage and the team pages: `list_columns(con, cfg, person_ids)`
gives one row per person (and the household's yearly cost for the pages);
`people_in_priorities` is the set `lists.priorities_only` keeps;
`handoff_reason` is the plain-English reason when a person's handoffs stand out.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import pandas as pd

from stratify.config import PlaceConfig
from stratify.costs.compute import COSTS_SQL_DIR, temp_table
from stratify.costs.timing import timed
from stratify.warehouse.database import read_sql

HANDOFFS_STAND_OUT = 5  # this many assessments, referrals or front-door contacts in 12 months make a reason


def list_columns(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig, person_ids: Iterable[str]) -> pd.DataFrame:
    """person_id, cost_12m_gbp, assessments_12m, household_cost_12m_gbp (and _prev_12m_, the year before), priorities."""
    with timed("list_columns"):
        temp_table(con, "cost_list_people", {"person_id": ("VARCHAR", list(dict.fromkeys(person_ids)))})
        temp_table(con, "priority_order", {"priority_id": ("VARCHAR", [p.id for p in cfg.priorities]),
                                           "position": ("INTEGER", list(range(len(cfg.priorities))))})
        try:
            return con.execute(read_sql(COSTS_SQL_DIR / "70_list_columns.sql")).df()
        finally:
            con.execute("DROP TABLE IF EXISTS temp.main.cost_list_people")
            con.execute("DROP TABLE IF EXISTS temp.main.priority_order")


def people_in_priorities(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Everyone under at least one of the place's priorities tonight (for `lists.priorities_only`)."""
    return {p for (p,) in con.execute("SELECT DISTINCT person_id FROM person_priorities").fetchall()}


def handoff_reason(assessments_12m: int) -> str | None:
    """A reason when a person told their story often, else None."""
    if assessments_12m < HANDOFFS_STAND_OUT:
        return None
    return (f"{assessments_12m} assessments, referrals or front-door contacts across agencies in 12 months "
            "(told their story again and again)")


def household_cost_text(cost_12m: float, cost_prev_12m: float, price_year: str) -> str:
    """The household's yearly cost and its trend, as an estimate at the table's prices (never an invoice)."""
    now, before = float(cost_12m or 0), float(cost_prev_12m or 0)
    if before > 0 and abs(now - before) / before >= 0.05:
        trend = f"{'up' if now > before else 'down'} from £{before:,.0f} the year before"
    elif before > 0:
        trend = "about the same as the year before"
    else:
        trend = "nothing costed the year before"
    return f"Household: estimated £{now:,.0f} of public cost in the last 12 months at {price_year} prices ({trend})"


def cost_sentences(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig, person_ids: Iterable[str]) -> dict[str, str]:
    """Each person's `person_cost_summary(...).sentence()` (a person not costed tonight is left out)."""
    from stratify.costs.person import person_cost_summaries

    with timed("cost_sentences"):
        ids = list(dict.fromkeys(person_ids))
        summaries = person_cost_summaries(con, cfg, ids)
        return {pid: summaries[pid].sentence() for pid in ids if pid in summaries}
