"""One person's cost summary, for the person view of a team page (and the app).

Reads the nightly `person_costs` table; the figures are estimates at the
unit-cost table's prices, over the history the warehouse holds (for the
synthetic Brian, his ten years), never an invoice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

from stratify.config import PlaceConfig

AGENCIES = ("health", "social_care", "housing", "police")
AGENCY_NAMES = {"health": "Health", "social_care": "Social care", "housing": "Housing", "police": "Police"}


@dataclass(frozen=True)
class PersonCost:
    """What one person's interactions cost, at the table's prices, and how often they told their story."""

    as_of: str
    first_event_date: str | None
    cost_12m_gbp: float
    cost_all_gbp: float
    cost_12m_by_agency: dict[str, float]
    cost_all_by_agency: dict[str, float]
    events_12m_by_agency: dict[str, int]
    events_all_by_agency: dict[str, int]
    assessments_12m: int
    assessments_all: int
    price_year: str
    unit_costs: str

    @property
    def events_all(self) -> int:
        return sum(self.events_all_by_agency.values())

    @property
    def years_of_history(self) -> float:
        from datetime import date

        if not self.first_event_date:
            return 0.0
        return (date.fromisoformat(self.as_of) - date.fromisoformat(self.first_event_date)).days / 365.25

    def sentence(self) -> str:
        """One plain sentence for the person view."""
        agencies = ", ".join(f"{AGENCY_NAMES[a].lower()} {n:,}" for a, n in self.events_all_by_agency.items() if n)
        return (f"Estimated public cost £{self.cost_all_gbp:,.0f} over {self.years_of_history:.1f} years of "
                f"recorded history (£{self.cost_12m_gbp:,.0f} in the last 12 months), at {self.price_year} "
                f"prices: {self.events_all:,} interactions ({agencies}); {self.assessments_all:,} assessments, "
                f"referrals and front-door contacts ({self.assessments_12m} in the last 12 months). An estimate "
                "at unit costs, not an invoice.")


def person_cost_summary(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig, person_id: str) -> PersonCost | None:
    """The person's summary from tonight's `person_costs`, or None if they are not in it."""
    return person_cost_summaries(con, cfg, [person_id]).get(person_id)


COLUMNS = ([f"cost_12m_{a}_gbp" for a in AGENCIES] + [f"cost_all_{a}_gbp" for a in AGENCIES]
           + [f"events_12m_{a}" for a in AGENCIES] + [f"events_all_{a}" for a in AGENCIES])


def person_cost_summaries(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig,
                          person_ids: Iterable[str]) -> dict[str, PersonCost]:
    """Each of these people's summaries from tonight's `person_costs`, in one query (the absent are left out).

    One join with the people asked for, not a query per person: a team page's
    few hundred people were a scan of `person_costs` each (0.03 s apiece at
    330,000 people, most of the publish stage's cost work).
    """
    from stratify.costs.compute import temp_table

    ids = list(dict.fromkeys(person_ids))
    if not ids:
        return {}
    temp_table(con, "cost_summary_people", {"person_id": ("VARCHAR", ids)})
    try:
        rows = con.execute("SELECT c.person_id, CAST(c.as_of AS DATE), c.first_event_date, c.cost_12m_gbp, "
                           "c.cost_all_gbp, c.assessments_12m, c.assessments_all, "
                           + ", ".join(f"c.{col}" for col in COLUMNS)
                           + " FROM person_costs AS c JOIN cost_summary_people USING (person_id)").fetchall()
    finally:
        con.execute("DROP TABLE IF EXISTS temp.main.cost_summary_people")
    price_year = cfg.costs.price_year if cfg.costs else ""
    unit_costs = cfg.costs.source_text if cfg.costs else ""
    out = {}
    for row in rows:
        values = dict(zip(COLUMNS, row[7:]))
        out[row[0]] = PersonCost(
            as_of=row[1].isoformat(),
            first_event_date=row[2].isoformat() if row[2] else None,
            cost_12m_gbp=float(row[3]), cost_all_gbp=float(row[4]),
            cost_12m_by_agency={a: float(values[f"cost_12m_{a}_gbp"]) for a in AGENCIES},
            cost_all_by_agency={a: float(values[f"cost_all_{a}_gbp"]) for a in AGENCIES},
            events_12m_by_agency={a: int(values[f"events_12m_{a}"]) for a in AGENCIES},
            events_all_by_agency={a: int(values[f"events_all_{a}"]) for a in AGENCIES},
            assessments_12m=int(row[5]), assessments_all=int(row[6]), price_year=price_year, unit_costs=unit_costs,
        )
    return out
