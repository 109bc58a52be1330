"""The nightly `costs` stage: each person's cost, handoffs and priorities, after `features`.

Writes the warehouse tables `person_costs`, `household_costs`, `team_costs`
and `person_priorities` (see `stratify.costs.compute`),
replaced every night, as of the run date. The lists read their columns
`cost_12m_gbp`, `assessments_12m` and `priorities` from them.
"""

from __future__ import annotations

from stratify.config import PlaceConfig
from stratify.costs.compute import compute_costs
from stratify.run.context import RunContext
from stratify.run.summaries import write_stage_summary
from stratify.warehouse.database import connect, fetch_one


def cost_people(cfg: PlaceConfig, ctx: RunContext) -> dict:
    """Price tonight's people at the place's unit costs; a summary of place totals (no pseudonyms)."""
    with connect(cfg) as con:
        con.begin()
        names = compute_costs(con, cfg, ctx.as_of)
        people, cost_12m, cost_all, handoffs = fetch_one(
            con, f"SELECT count(*), coalesce(sum(cost_12m_gbp), 0), coalesce(sum(cost_all_gbp), 0), "
                 f"coalesce(sum(assessments_12m), 0) FROM {names.person_costs}")
        in_priority = fetch_one(con, f"SELECT count(DISTINCT person_id) FROM {names.person_priorities}")[0]
        con.commit()
    summary = {"people": int(people), "cost_12m_gbp": round(float(cost_12m), 2),
               "cost_all_gbp": round(float(cost_all), 2), "assessments_12m": int(handoffs),
               "people_in_priorities": int(in_priority), "price_year": cfg.costs.price_year if cfg.costs else None,
               "unit_costs": cfg.costs.source_text if cfg.costs else None}
    write_stage_summary(cfg, ctx, "costs", summary)
    return summary
