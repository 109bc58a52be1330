"""The measure stage: who tonight's lists select, what engagement changed, how good past lists were, and drift.

Runs after `rank` (it reads the `lists` table) and before `publish`, which
copies its results into the run folder: `fairness.selection_rates` into
`manifest.json` (the contract's field), `impact.json` beside it, the
realised precision of past lists for the leaders' overview (the model card
shows the same table when a model is trained), and the promoted model's
drift for the IG page. A flagged group, or past lists that fell short of
what the model promised by more than `measures.precision_margin`, become
warnings in the run's status, never a hold; a shortfall also flags the next
training (the warehouse table `training_flags`, answered by the next model
registered).
"""

from __future__ import annotations

import json
import logging
from datetime import date

from stratify.config import PlaceConfig
from stratify.errors import ModelError
from stratify.files.permissions import write_private_text
from stratify.measures import IMPACT_FILE
from stratify.measures.drift import model_drift
from stratify.measures.impact import ImpactSettings, estimate
from stratify.measures.inputs import MEASURES_SQL, impact_world, selection_people
from stratify.measures.selection import flagged_groups, selection_rates
from stratify.model.past_lists import open_training_flags, past_list_precision, save_training_flags, shortfalls
from stratify.model.registry import ModelBundle, load_promoted
from stratify.run.context import RunContext, staging_dir
from stratify.run.summaries import write_stage_summary
from stratify.warehouse.connect import connect
from stratify.warehouse.sql import fetch_one, read_sql, run_sql_file, transaction

log = logging.getLogger(__name__)
MAX_HISTORY_MONTHS = 60


def _history_months(con, as_of: date) -> int:
    first = fetch_one(con, "SELECT min(event_date) FROM raw_events")
    if not first or first[0] is None:
        return 1
    d = first[0]
    return max(1, min(MAX_HISTORY_MONTHS, (as_of.year - d.year) * 12 + as_of.month - d.month + 1))


def _promoted(cfg: PlaceConfig) -> ModelBundle | None:
    """The promoted model for re-measuring, or None (none promoted, or its file cannot be read: said in drift)."""
    try:
        return load_promoted(cfg, strict=True)
    except ModelError as exc:
        log.warning("measure: the promoted model cannot be read for drift (%s)", exc)
        return None


def measure_lists(cfg: PlaceConfig, ctx: RunContext) -> dict:
    """Selection rates, the engagement estimate, past lists' precision and drift; `impact.json` in staging."""
    bundle = _promoted(cfg)  # read before the stage's own connection is opened
    margin = cfg.measures.precision_margin
    with connect(cfg) as con:
        with transaction(con):
            run_sql_file(con, MEASURES_SQL / "crisis_history_save.sql", {"as_of": ctx.as_of},
                         step="measure: save tonight's crisis history")
        people = selection_people(con, ctx.as_of)
        listed = con.execute(read_sql(MEASURES_SQL / "listed_tonight.sql")).df()["person_id"]
        world, _ = impact_world(con, ctx.as_of, _history_months(con, ctx.as_of))
        precision = past_list_precision(con, ctx.as_of, cfg.model.horizon_months, cfg.suppression.min_count, margin)
        short = shortfalls(precision, margin)
        with transaction(con):
            save_training_flags(con, ctx.run_id, ctx.as_of, short)
        flags = open_training_flags(con)
        drift = model_drift(con, cfg, ctx.as_of, bundle)
    entries = selection_rates(people, listed, cfg.suppression.min_count)
    impact = estimate(world, ImpactSettings(min_people=cfg.suppression.min_count))
    impact["as_of"] = ctx.as_of.isoformat()
    impact["measure"] = "interactions (all delivered events) per person-year"
    folder = staging_dir(cfg, ctx)
    folder.mkdir(parents=True, exist_ok=True)
    write_private_text(folder / IMPACT_FILE, json.dumps(impact, indent=2, sort_keys=True) + "\n")
    flagged = flagged_groups(entries)
    summary = {
        "fairness": {"selection_rates": entries, "flagged": flagged},
        "past_lists": precision,
        "precision_margin": margin,
        "horizon_months": cfg.model.horizon_months,
        "precision_shortfalls": [s["text"] for s in short],
        "retrain_flagged": bool(flags),
        "training_flags_open": len(flags),
        "impact": impact["place"],
        "drift": drift,
        "warnings": [f"selection rate outside four-fifths: {line}" for line in flagged]
                    + [f"past lists fell short: {s['text']}; the next training is flagged" for s in short],
    }
    write_stage_summary(cfg, ctx, "measure", summary)
    return {"groups_flagged": len(flagged), "engaged_people": impact["place"]["engaged_people"],
            "past_list_months": len(precision), "precision_shortfalls": len(short),
            "training_flags_open": len(flags), "warnings": len(summary["warnings"])}
