"""The `lists` table: tonight's `TeamLists`, written by the rank stage and read back, as they were, by publish.

One row per person per team and section (`listed`, `already_working`,
`snoozed`, `dropped`) with the columns those sections show, and one
`list_teams` row per team (capacity, whether it had a list before, counts);
stratify/sql/lists_save.sql says what each column holds. Reading back gives
frames with the same values in the same order, so publish renders exactly
what rank decided.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from stratify.config import PlaceConfig
from stratify.lists.team import COUNT_KEYS, TeamLists
from stratify.run.context import RunContext
from stratify.warehouse.database import SQL_DIR, connect, fetch_one, read_sql, run_sql_file

SECTIONS = ("listed", "already_working", "snoozed", "dropped")
# Each section's columns, as TeamLists holds them (dropped: as `dropped_people` builds them).
LISTED = ("rank", "person_id", "household_id", "tier", "score", "reasons", "agencies", "change", "household_rank",
          "household_tier", "household_listed", "household_members", "last_outcome", "last_outcome_date", "note", "cost_12m_gbp", "assessments_12m", "priorities",
          "household_cost_12m_gbp", "household_cost_prev_12m_gbp", "severity")
SECTION = ("person_id", "household_id", "tier", "score", "reasons", "agencies", "household_members", "outcome",
           "outcome_date", "until", "note", "cost_12m_gbp", "assessments_12m", "priorities", "household_cost_12m_gbp",
           "household_cost_prev_12m_gbp", "severity")
DROPPED = ("person_id", "household_id", "previous_rank", "previous_tier", "previous_score", "reason", "detail")
COLUMNS = {"listed": LISTED, "already_working": SECTION, "snoozed": SECTION, "dropped": DROPPED}
TABLE_NAMES = {"reason": "drop_reason", "detail": "drop_detail"}  # dropped's columns as the table names them
TYPES = {
    "team": pa.string(), "section": pa.string(), "position": pa.int64(), "rank": pa.int64(),
    "person_id": pa.string(), "household_id": pa.string(), "tier": pa.string(), "score": pa.float64(),
    "reasons": pa.string(), "change": pa.string(), "agencies": pa.string(), "household_rank": pa.int64(),
    "household_tier": pa.string(), "household_listed": pa.int64(), "household_members": pa.int64(),
    "outcome": pa.string(), "outcome_date": pa.string(), "until": pa.string(), "note": pa.string(),
    "last_outcome": pa.string(), "last_outcome_date": pa.string(), "previous_rank": pa.int64(),
    "previous_tier": pa.string(), "previous_score": pa.float64(), "drop_reason": pa.string(),
    "drop_detail": pa.string(), "cost_12m_gbp": pa.float64(), "assessments_12m": pa.int64(),
    "priorities": pa.string(), "household_cost_12m_gbp": pa.float64(), "household_cost_prev_12m_gbp": pa.float64(),
    "severity": pa.float64(),
}


class ListsNotRanked(RuntimeError):
    """Publish found no lists of this run: the rank stage has not run (or failed) for it."""


def _section_frames(t: TeamLists) -> dict[str, pd.DataFrame]:
    return {"listed": t.listed, "already_working": t.already_working, "snoozed": t.snoozed, "dropped": t.dropped}


def lists_table(teams: dict[str, TeamLists]) -> pa.Table:
    """Every team's sections as one Arrow table (`lists_in`), built column by column."""
    cols: dict[str, list] = {k: [] for k in TYPES}
    for t in teams.values():
        for section, frame in _section_frames(t).items():
            n = len(frame)
            if not n:
                continue
            cols["team"] += [t.team] * n
            cols["section"] += [section] * n
            cols["position"] += list(range(1, n + 1))
            for name in COLUMNS[section]:  # a column a hand-made frame lacks is NULL
                values = frame[name].tolist() if name in frame.columns else [None] * n
                cols[TABLE_NAMES.get(name, name)] += [None if _missing(v) else v for v in values]
            for name in set(TYPES) - {"team", "section", "position"} - {TABLE_NAMES.get(c, c) for c in COLUMNS[section]}:
                cols[name] += [None] * n
    return pa.table({k: pa.array(v, TYPES[k]) for k, v in cols.items()})


def teams_table(teams: dict[str, TeamLists]) -> pa.Table:
    """One row per team (`list_teams_in`): capacity, whether it had a published list before, its counts."""
    rows = [{"team": t.team, "capacity": t.capacity, "previous_published": t.previous_published,
             **{k: int(t.counts.get(k, 0)) for k in COUNT_KEYS}} for t in teams.values()]
    types = {"team": pa.string(), "capacity": pa.int64(), "previous_published": pa.bool_(),
             **{k: pa.int64() for k in COUNT_KEYS}}
    return pa.table({k: pa.array([r[k] for r in rows], v) for k, v in types.items()})


def save_lists(cfg: PlaceConfig, ctx: RunContext, teams: dict[str, TeamLists]) -> int:
    """Replace `lists` and `list_teams` with tonight's (one transaction); the number of rows in `lists`."""
    rows = lists_table(teams)
    with connect(cfg) as con:
        con.begin()
        con.register("lists_in", rows)
        con.register("list_teams_in", teams_table(teams))
        run_sql_file(con, SQL_DIR / "lists_save.sql", {"run_id": ctx.run_id}, step="lists")
        con.unregister("lists_in")
        con.unregister("list_teams_in")
        con.commit()
    return rows.num_rows


def load_lists(cfg: PlaceConfig, ctx: RunContext) -> dict[str, TeamLists]:
    """Tonight's `TeamLists` per configured team, as the rank stage saved them for this run."""
    with connect(cfg) as con:
        found = fetch_one(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name IN ('lists', 'list_teams') "
                               "AND schema_name = 'main'")[0]
        ranked = fetch_one(con, "SELECT count(*) FROM list_teams WHERE run_id = $1", [ctx.run_id])[0] if found == 2 else 0
        if not ranked:
            raise ListsNotRanked(f"the warehouse holds no lists of run {ctx.run_id}: the rank stage has not run "
                                 "for it; run the night again (`stratify run`, or clear the rank task in Airflow)")
        facts = con.execute("SELECT * FROM list_teams WHERE run_id = $1 ORDER BY team", [ctx.run_id]).df()
        sql = read_sql(SQL_DIR / "lists_of_run.sql")
        rows = {s: con.execute(sql, {"run_id": ctx.run_id, "section": s}).df() for s in SECTIONS}
    facts = facts.set_index("team")
    teams = {}
    for team in cfg.teams:
        if team not in facts.index:
            raise ListsNotRanked(f"the lists of run {ctx.run_id} have no team {team}; run the night again")
        frames = {s: _frame(rows[s], team, s) for s in SECTIONS}
        f = facts.loc[team]
        teams[team] = TeamLists(team, int(f["capacity"]), frames["listed"], frames["already_working"],
                                frames["snoozed"], frames["dropped"], previous_published=bool(f["previous_published"]),
                                counts={k: int(f[k]) for k in COUNT_KEYS})
    return teams


def _frame(rows: pd.DataFrame, team: str, section: str) -> pd.DataFrame:
    """One team's rows of one section, with the columns (and names) TeamLists gives that section."""
    mine = rows[rows["team"] == team]
    if section == "dropped":  # built from records, as `dropped_people` builds it
        records = mine.rename(columns={v: k for k, v in TABLE_NAMES.items()})[list(DROPPED)].to_dict("records")
        return pd.DataFrame(records, columns=list(DROPPED))
    # a column the table lacks (lists ranked by an older stratify, e.g. without `severity`) comes back empty
    return mine.reindex(columns=list(COLUMNS[section])).reset_index(drop=True)


def _missing(value) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value))
