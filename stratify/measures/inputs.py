"""The measures' inputs, read from the warehouse: who could be listed, and each person's months of interactions."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd

from stratify.measures.impact import World
from stratify.resources import SQL_DIR
from stratify.warehouse.sql import read_sql

MEASURES_SQL = SQL_DIR / "measures"


def selection_people(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Registered, living, not-opted-out people with a team, their groups and crisis flag."""
    return con.execute(read_sql(MEASURES_SQL / "selection_people.sql"), {"as_of": as_of}).df()


def _month_index(d: date, first: date) -> int:
    return (d.year - first.year) * 12 + d.month - first.month


def impact_world(con: duckdb.DuckDBPyConnection, as_of: date, history_months: int) -> tuple[World, pd.Index]:
    """Everyone in `persons`, their interactions per month over `history_months` to `as_of`, who was engaged when.

    Month 0 is the first of the month `history_months - 1` months before the
    as-of month; the as-of month itself is incomplete unless `as_of` is its
    last day, so `last_month` is the month before it otherwise.
    """
    first = date(as_of.year, as_of.month, 1)
    for _ in range(history_months - 1):
        first = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    people = pd.Index(con.execute("SELECT person_id FROM persons ORDER BY person_id").df()["person_id"])
    months = _month_index(as_of, first) + 1
    counts = np.zeros((len(people), months), dtype=np.int32)
    ev = con.execute(read_sql(MEASURES_SQL / "impact_monthly_events.sql"),
                     {"as_of": as_of, "first_month": first}).df()
    if len(ev):
        rows = people.get_indexer(ev["person_id"])
        counts[rows, ev["month_index"].to_numpy()] = ev["interactions"].to_numpy()
    engaged = con.execute(read_sql(MEASURES_SQL / "impact_engaged.sql"), {"as_of": as_of}).df()
    engaged_month = np.full(len(people), -1, dtype=np.int64)
    team = np.full(len(people), "", dtype=object)
    if len(engaged):
        rows = people.get_indexer(engaged["person_id"])
        em = np.array([_month_index(d, first) for d in pd.to_datetime(engaged["engaged_on"]).dt.date])
        keep = (rows >= 0) & (em >= 0)
        engaged_month[rows[keep]] = em[keep]
        team[rows[keep]] = engaged["team"].to_numpy()[keep]
    listed = con.execute(read_sql(MEASURES_SQL / "impact_listed.sql")).df()
    listed_frame = None
    if len(listed):
        rows = people.get_indexer(listed["person_id"])
        lm = np.array([_month_index(d, first) for d in pd.to_datetime(listed["as_of"]).dt.date])
        keep = (rows >= 0) & (lm >= 0) & listed["score"].notna().to_numpy()
        listed_frame = pd.DataFrame({"month": lm[keep], "person": rows[keep],
                                     "score": listed["score"].to_numpy()[keep]})
    month_is_complete = (as_of + timedelta(days=1)).month != as_of.month
    last_month = months - 1 if month_is_complete else months - 2
    return World(counts=counts, engaged_month=engaged_month, team=team, last_month=last_month,
                 listed=listed_frame), people
