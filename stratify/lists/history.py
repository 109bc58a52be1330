"""Earlier published lists: the ones `latest` shows, and `list_history` (read back for snoozing; tonight's saved)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from stratify.config import PlaceConfig
from stratify.run.context import RunContext, latest_link
from stratify.warehouse.database import SQL_DIR, connect, run_sql_file
from stratify.warehouse.people import query_for_people


def previous_lists(cfg: PlaceConfig) -> dict[str, pd.DataFrame]:
    """The lists of the currently published run, per team (empty before the first run)."""
    folder = latest_link(cfg) / "lists"
    if not folder.is_dir():
        return {}
    return {p.stem: pd.read_csv(p, dtype=str, keep_default_na=False) for p in folder.glob("*.csv")}


def history_by_person(history: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each person's published rows as (as_of, tier) arrays in (as_of, published_at) order: sorted once per team."""
    if history.empty:
        return {}
    h = history.sort_values(["person_id", "as_of", "published_at"], kind="mergesort")
    runs_as_of, tiers = pd.to_datetime(h["as_of"]).to_numpy(), h["tier"].to_numpy()
    return {pid: (runs_as_of[rows], tiers[rows]) for pid, rows in person_runs(h["person_id"].to_numpy())}


def person_runs(person_ids: np.ndarray) -> list[tuple[str, slice]]:
    """Each person's rows in an array sorted by person: (person_id, slice), one pass, no groupby per person."""
    if not len(person_ids):
        return []
    starts = np.flatnonzero(np.r_[True, person_ids[1:] != person_ids[:-1]])
    ends = np.r_[starts[1:], len(person_ids)]
    return [(person_ids[a], slice(a, b)) for a, b in zip(starts, ends)]


def load_history(cfg: PlaceConfig, person_ids) -> pd.DataFrame:
    """Earlier published list rows (team, person_id, as_of, published_at, tier) of these people."""
    with connect(cfg) as con:
        return read_history(con, person_ids)


def read_history(con, person_ids) -> pd.DataFrame:
    return query_for_people(con, person_ids, "list_history_of.sql")


def save_history(cfg: PlaceConfig, ctx: RunContext, published_at, teams: dict) -> int:
    """Record tonight's published rows (`teams`: team -> `TeamLists`) in `list_history`, replacing this run's.

    Built as one Arrow table column by column, not a DataFrame per team and
    section (225 of them for the 75 teams of a 3,000,000-person place).
    """
    cols: dict[str, list] = {k: [] for k in ("team", "person_id", "section", "tier", "score", "rank", "change")}
    for t in teams.values():
        for name, frame in (("listed", t.listed), ("already_working", t.already_working), ("snoozed", t.snoozed)):
            n = len(frame)
            if not n:
                continue
            cols["team"] += [t.team] * n
            cols["section"] += [name] * n
            cols["person_id"] += frame["person_id"].tolist()
            cols["tier"] += frame["tier"].tolist()
            cols["score"] += frame["score"].astype(float).tolist()
            cols["rank"] += [int(r) for r in frame["rank"]] if name == "listed" else [None] * n
            cols["change"] += frame["change"].tolist() if name == "listed" else [None] * n
    types = {"team": pa.string(), "person_id": pa.string(), "section": pa.string(), "tier": pa.string(),
             "score": pa.float64(), "rank": pa.int64(), "change": pa.string()}
    rows = pa.table({k: pa.array(v, types[k]) for k, v in cols.items()})
    with connect(cfg) as con:
        con.begin()
        con.register("list_history_in", rows)
        run_sql_file(con, SQL_DIR / "list_history_save.sql",
                     {"run_id": ctx.run_id, "as_of": ctx.as_of, "published_at": published_at}, step="list history")
        con.unregister("list_history_in")
        con.commit()
    return rows.num_rows
