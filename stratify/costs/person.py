"""One person's cost summary, for the person view of a team page (and the app).

Reads the nightly `person_costs` table; the figures are estimates at the
unit-cost table's prices, over the history the warehouse holds (for the
synthetic Brian, his ten years), never an invoice.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from stratify.config import PlaceConfig
from stratify.warehouse.database import fetch_one

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
    cols = ([f"cost_12m_{a}_gbp" for a in AGENCIES] + [f"cost_all_{a}_gbp" for a in AGENCIES]
            + [f"events_12m_{a}" for a in AGENCIES] + [f"events_all_{a}" for a in AGENCIES])
    row = fetch_one(con, "SELECT CAST(as_of AS DATE), first_event_date, cost_12m_gbp, cost_all_gbp, assessments_12m, "
                         "assessments_all, " + ", ".join(cols) + " FROM person_costs WHERE person_id = $1",
                    [person_id])
    if row is None:
        return None
    values = dict(zip(cols, row[6:]))
    return PersonCost(
        as_of=row[0].isoformat(),
        first_event_date=row[1].isoformat() if row[1] else None,
        cost_12m_gbp=float(row[2]), cost_all_gbp=float(row[3]),
        cost_12m_by_agency={a: float(values[f"cost_12m_{a}_gbp"]) for a in AGENCIES},
        cost_all_by_agency={a: float(values[f"cost_all_{a}_gbp"]) for a in AGENCIES},
        events_12m_by_agency={a: int(values[f"events_12m_{a}"]) for a in AGENCIES},
        events_all_by_agency={a: int(values[f"events_all_{a}"]) for a in AGENCIES},
        assessments_12m=int(row[4]), assessments_all=int(row[5]),
        price_year=cfg.costs.price_year if cfg.costs else "", unit_costs=cfg.costs.source_text if cfg.costs else "",
    )
