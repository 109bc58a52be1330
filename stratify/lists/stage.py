"""The `rank` stage: every team's lists for tonight, explained, into the `lists` table.

Reads the tiered people (`scores`, `persons`, `feat_person`), the teams'
outcomes, the earlier published lists (`list_history`) and the lists now
published (`<out>/latest`), builds each team's lists with the pure rules of
this package (`team.build_team_lists`), explains exactly the wobbling people
those lists show (with the model the score stage used), and writes them to
`lists` / `list_teams` for publish to render.
"""

from __future__ import annotations

import pandas as pd
from threadpoolctl import threadpool_limits

from stratify.config import PlaceConfig
from stratify.costs.list_columns import handoff_reason, list_columns, people_in_priorities
from stratify.lists.history import previous_lists, read_history
from stratify.lists.outcomes import SNOOZING, WITHDRAWING
from stratify.lists.queries import read_candidates, read_outcomes, read_status
from stratify.lists.table import save_lists
from stratify.lists.team import TeamLists, build_team_lists, list_totals
from stratify.model.explain import explain, load_explain_rows
from stratify.model.registry import ModelError, run_model
from stratify.run.context import RunContext
from stratify.run.summaries import write_stage_summary
from stratify.warehouse.database import connect


def rank_lists(cfg: PlaceConfig, ctx: RunContext) -> dict:
    """The nightly stage: build, explain and save every configured team's lists; a short summary.

    Running it again for the same run replaces its lists (an Airflow retry).
    """
    teams = assemble_lists(cfg, ctx, previous_lists(cfg))
    explained = explain_shown(cfg, ctx, teams)
    add_cost_columns(cfg, teams)
    rows = save_lists(cfg, ctx, teams)
    withdrawn = {code: sum(t.withdrawn.get(code, 0) for t in teams.values()) for code in WITHDRAWING}
    summary = {"teams": len(teams), "rows": rows, "explained": explained, **list_totals(teams),
               "withdrawn": withdrawn}
    write_stage_summary(cfg, ctx, "rank", summary)
    return summary


def assemble_lists(cfg: PlaceConfig, ctx: RunContext, previous: dict[str, pd.DataFrame]) -> dict[str, TeamLists]:
    """Every configured team's lists for tonight (wobbling people not yet explained: `explain_shown`)."""
    earlier = [p["person_id"] for p in previous.values() if not p.empty]
    with connect(cfg) as con:  # one connection for the night's four reads
        candidates = read_candidates(con)
        outcomes = read_outcomes(con, ctx.as_of)
        history = read_history(con, outcomes.loc[outcomes["status_outcome"].isin(SNOOZING), "person_id"])
        status = read_status(con, pd.concat(earlier) if earlier else [])
        if cfg.lists.priorities_only:  # before capacity: the places go to people under a priority
            candidates = candidates[candidates["person_id"].isin(people_in_priorities(con))]
    teams = {}
    for team in cfg.teams:
        teams[team] = build_team_lists(
            team, cfg.capacity(team),
            candidates[candidates["team"] == team], outcomes[outcomes["team"] == team].drop(columns=["team"]),
            history[history["team"] == team], previous.get(team), status, cfg.lists, ctx.as_of,
        )
    return teams


def explain_shown(cfg: PlaceConfig, ctx: RunContext, teams: dict[str, TeamLists]) -> int:
    """Give every wobbling person the lists show (ranked, already working, snoozed) the model's reasons.

    People in crisis keep the rules' reasons; a row left without reasons
    gets "". Returns how many people were explained.
    """
    frames = [f for t in teams.values() for f in (t.listed, t.already_working, t.snoozed) if not f.empty]
    wobbling = {pid for f in frames for pid, tier in zip(f["person_id"], f["tier"]) if tier == "wobbling"}
    found = reasons_for(cfg, ctx, wobbling)
    for f in frames:
        shown = f["tier"] == "wobbling"
        f.loc[shown, "reasons"] = f.loc[shown, "person_id"].map(found)
        empty = ~f["reasons"].map(lambda r: isinstance(r, str) and bool(r))
        f.loc[empty, "reasons"] = ""
    return len(found)


COST_COLUMNS = ("cost_12m_gbp", "assessments_12m", "priorities", "household_cost_12m_gbp",
                "household_cost_prev_12m_gbp")


def add_cost_columns(cfg: PlaceConfig, teams: dict[str, TeamLists]) -> None:
    """Give every person the lists show (ranked, already working, snoozed) the costs stage's columns.

    `cost_12m_gbp`, `assessments_12m`, `priorities` (the contract's optional
    list columns), the household's cost this year and the year before (the
    pages' trend), and the handoff reason after the person's other reasons
    when their handoffs stand out (`handoff_reason`).
    """
    frames = [f for t in teams.values() for f in (t.listed, t.already_working, t.snoozed) if not f.empty]
    ids = [pid for f in frames for pid in f["person_id"]]
    if not ids:
        return
    with connect(cfg) as con:
        found = list_columns(con, cfg, ids).set_index("person_id")
    for f in frames:
        for col in COST_COLUMNS:
            f[col] = f["person_id"].map(found[col]).to_numpy()
        for col in ("cost_12m_gbp", "household_cost_12m_gbp", "household_cost_prev_12m_gbp"):
            f[col] = f[col].astype(float)
        f["assessments_12m"] = f["assessments_12m"].astype(int)
        f["reasons"] = [_with_handoffs(r, n) for r, n in zip(f["reasons"], f["assessments_12m"])]


def _with_handoffs(reasons, assessments_12m) -> str:
    extra = handoff_reason(int(assessments_12m))
    reasons = reasons if isinstance(reasons, str) else ""
    if not extra:
        return reasons
    return f"{reasons}; {extra}" if reasons else extra


def reasons_for(cfg: PlaceConfig, ctx: RunContext, person_ids) -> dict[str, str]:
    """Each of these wobbling people's reasons, from the model the run scored with (`explain`)."""
    ids = sorted(set(person_ids))
    if not ids:
        return {}
    bundle = run_model(cfg, ctx.run_id)
    if bundle is None:
        raise ModelError(f"{len(ids)} people are wobbling tonight but run {ctx.run_id} recorded no model to "
                         "explain them with: run the night again (`stratify run`)")
    with connect(cfg) as con:
        rows = load_explain_rows(con, ids)
    with threadpool_limits(limits=cfg.duckdb.threads):
        return dict(zip(rows["person_id"], explain(bundle, rows)))
