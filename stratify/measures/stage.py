"""The measure stage: who tonight's lists select, what engagement changed, and how good past lists were.

Runs after `rank` (it reads the `lists` table) and before `publish`, which
copies its results into the run folder: `fairness.selection_rates` into
`manifest.json` (the contract's field), `impact.json` beside it, and the
realised precision of past lists for the model card and the leaders'
overview. A flagged group or past lists that fell short of what the model
promised become warnings in the run's status, never a hold.
"""

from __future__ import annotations

import json
from datetime import date

import pandas as pd

from stratify.config import PlaceConfig
from stratify.files.permissions import write_private_text
from stratify.measures import IMPACT_FILE
from stratify.measures.drift import model_drift
from stratify.measures.impact import ImpactSettings, estimate
from stratify.measures.inputs import MEASURES_SQL, impact_world, selection_people
from stratify.measures.selection import flagged_groups, selection_rates
from stratify.run.context import RunContext, staging_dir
from stratify.run.summaries import write_stage_summary
from stratify.warehouse.connect import connect
from stratify.warehouse.sql import fetch_one, read_sql, run_sql_file, transaction

MAX_HISTORY_MONTHS = 60
PRECISION_MARGIN = 0.10  # realised precision this far below the promise is a warning


def _history_months(con, as_of: date) -> int:
    first = fetch_one(con, "SELECT min(event_date) FROM raw_events")
    if not first or first[0] is None:
        return 1
    d = first[0]
    return max(1, min(MAX_HISTORY_MONTHS, (as_of.year - d.year) * 12 + as_of.month - d.month + 1))


def past_list_precision(con, as_of: date, horizon_months: int, min_count: int) -> list[dict]:
    """Realised against promised precision of past lists, by team and month (small counts withheld)."""
    rows = con.execute(read_sql(MEASURES_SQL / "past_list_precision.sql"),
                       {"as_of": as_of, "horizon_months": horizon_months}).df()
    out = []
    for r in rows.itertuples(index=False):
        small = 0 < r.wobbling < min_count
        realised = None if small or r.wobbling == 0 else r.wobbling_met_crisis / r.wobbling
        still = None if (0 < r.crisis_followed < min_count or r.crisis_followed == 0) \
            else r.crisis_still / r.crisis_followed
        out.append({
            "team": r.team, "month": pd.Timestamp(r.month).date().isoformat(),
            "lists": int(r.lists), "fewest_nights_observed": int(r.fewest_nights_observed),
            "wobbling": None if small else int(r.wobbling),
            "realised_precision": realised,
            "promised_precision": None if small or r.promised_precision != r.promised_precision
            else float(r.promised_precision),
            "crisis_still_in_crisis_share": still,
            "suppressed": bool(small),
        })
    return out


def shortfalls(precision: list[dict], margin: float = PRECISION_MARGIN) -> list[str]:
    """Past lists whose realised precision fell short of the promise by more than `margin`."""
    lines = []
    for p in precision:
        if p["realised_precision"] is not None and p["promised_precision"] is not None \
                and p["realised_precision"] < p["promised_precision"] - margin:
            lines.append(f"team {p['team']}, lists of {p['month'][:7]}: {p['realised_precision']:.0%} of the wobbling "
                         f"people met a crisis rule within the horizon, against {p['promised_precision']:.0%} promised")
    return lines


def measure_lists(cfg: PlaceConfig, ctx: RunContext) -> dict:
    """Selection rates, the engagement estimate and past lists' precision; `impact.json` in the staging folder."""
    with connect(cfg) as con:
        with transaction(con):
            run_sql_file(con, MEASURES_SQL / "crisis_history_save.sql", {"as_of": ctx.as_of},
                         step="measure: save tonight's crisis history")
        people = selection_people(con, ctx.as_of)
        listed = con.execute(read_sql(MEASURES_SQL / "listed_tonight.sql")).df()["person_id"]
        world, _ = impact_world(con, ctx.as_of, _history_months(con, ctx.as_of))
        precision = past_list_precision(con, ctx.as_of, cfg.model.horizon_months, cfg.suppression.min_count)
        drift = model_drift(con)
    entries = selection_rates(people, listed, cfg.suppression.min_count)
    impact = estimate(world, ImpactSettings(min_people=cfg.suppression.min_count))
    impact["as_of"] = ctx.as_of.isoformat()
    impact["measure"] = "interactions (all delivered events) per person-year"
    folder = staging_dir(cfg, ctx)
    folder.mkdir(parents=True, exist_ok=True)
    write_private_text(folder / IMPACT_FILE, json.dumps(impact, indent=2, sort_keys=True) + "\n")
    flagged = flagged_groups(entries)
    short = shortfalls(precision)
    summary = {
        "fairness": {"selection_rates": entries, "flagged": flagged},
        "past_lists": precision,
        "precision_shortfalls": short,
        "retrain_flagged": bool(short),
        "impact": impact["place"],
        "drift": drift,
        "warnings": [f"selection rate outside four-fifths: {line}" for line in flagged]
                    + [f"past lists fell short: {line}" for line in short],
    }
    write_stage_summary(cfg, ctx, "measure", summary)
    return {"groups_flagged": len(flagged), "engaged_people": impact["place"]["engaged_people"],
            "past_list_months": len(precision), "warnings": len(summary["warnings"])}
