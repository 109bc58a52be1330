"""Every team's lists for tonight, from the warehouse and the previous published lists."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from stratify.config import PlaceConfig
from stratify.lists.history import read_history
from stratify.lists.outcomes import SNOOZING
from stratify.lists.queries import read_candidates, read_outcomes, read_status
from stratify.lists.team import TeamLists, build_team_lists
from stratify.run.context import RunContext
from stratify.warehouse.database import connect, fetch_one


def assemble_lists(cfg: PlaceConfig, ctx: RunContext, previous: dict[str, pd.DataFrame]) -> dict[str, TeamLists]:
    """Every configured team's lists for tonight, from the warehouse and the previous published lists."""
    earlier = [p["person_id"] for p in previous.values() if not p.empty]
    with connect(cfg) as con:  # one connection for the night's four reads
        candidates = read_candidates(con)
        outcomes = read_outcomes(con, ctx.as_of)
        history = read_history(con, outcomes.loc[outcomes["status_outcome"].isin(SNOOZING), "person_id"])
        status = read_status(con, pd.concat(earlier) if earlier else [])
    teams = {}
    for team in cfg.teams:
        teams[team] = build_team_lists(
            team, cfg.capacity(team),
            candidates[candidates["team"] == team], outcomes[outcomes["team"] == team].drop(columns=["team"]),
            history[history["team"] == team], previous.get(team), status, cfg.lists, ctx.as_of,
        )
    _fill_reasons(cfg, ctx, teams)
    return teams


def _fill_reasons(cfg: PlaceConfig, ctx: RunContext, teams: dict[str, TeamLists]) -> None:
    """Explain every shown wobbling person the scoring stage left without reasons."""
    frames = [f for t in teams.values() for f in (t.listed, t.already_working, t.snoozed) if not f.empty]
    missing = {pid for f in frames for pid, tier, why in zip(f["person_id"], f["tier"], f["reasons"])
               if tier == "wobbling" and not (isinstance(why, str) and why)}
    found = explain_missing(cfg, ctx, missing)
    for f in frames:
        empty = ~f["reasons"].map(lambda r: isinstance(r, str) and bool(r))
        f.loc[empty, "reasons"] = f.loc[empty, "person_id"].map(found).fillna("")


def explain_missing(cfg: PlaceConfig, ctx: RunContext, person_ids) -> dict[str, str]:
    """Reasons for wobbling people shown tonight whom the scoring stage did not explain.

    The scoring stage explains everyone it expects a list to show
    (`model.shown_wobbling`); anyone the lists show beyond that set is
    explained here with the same model (loading it costs about 1.5 s).
    """
    ids = sorted(set(person_ids))
    if not ids:
        return {}
    from stratify.model.explain import explain, load_explain_rows
    from stratify.model.registry import read_bundle

    with connect(cfg) as con:
        row = fetch_one(con, "SELECT m.model_version, m.path FROM runs r JOIN models m USING (model_version) "
                             "WHERE r.run_id = $1", [ctx.run_id])
        if row is None:
            return {}
        rows = load_explain_rows(con, ids)
    bundle = read_bundle(row[0], Path(row[1]))
    return dict(zip(rows["person_id"], explain(bundle, rows)))
