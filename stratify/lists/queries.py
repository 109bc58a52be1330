"""What the lists read from the warehouse tonight: candidates, outcomes, drop-off status, timelines, trends."""

from __future__ import annotations

from datetime import date

import pandas as pd

from stratify.config import PlaceConfig
from stratify.warehouse.database import SQL_DIR, connect, read_sql, run_sql_file
from stratify.warehouse.people import query_for_people

AGENCIES = ("health", "social_care", "housing", "police")
TIMELINE_DAYS = 365


def load_candidates(cfg: PlaceConfig) -> pd.DataFrame:
    """Every tiered, listable person with team, household, severity, reasons and agencies."""
    with connect(cfg) as con:
        return read_candidates(con)


def load_outcomes(cfg: PlaceConfig, as_of: date) -> pd.DataFrame:
    """Per person and team, the latest outcome and latest status outcome known on `as_of`."""
    with connect(cfg) as con:
        return read_outcomes(con, as_of)


def load_status(cfg: PlaceConfig, person_ids) -> pd.DataFrame:
    """Tonight's team, death, tier and score of these people (those still registered and not opted out)."""
    with connect(cfg) as con:
        return read_status(con, person_ids)


def read_candidates(con) -> pd.DataFrame:
    return con.execute(read_sql(SQL_DIR / "list_candidates.sql")).df()


def read_outcomes(con, as_of: date) -> pd.DataFrame:
    """list_outcomes.sql, after wrong_persons.sql (the people off every list) for the same date."""
    run_sql_file(con, SQL_DIR / "wrong_persons.sql", {"as_of": as_of}, step="lists: wrong persons")
    return con.execute(read_sql(SQL_DIR / "list_outcomes.sql"), {"as_of": as_of}).df()


def read_status(con, person_ids) -> pd.DataFrame:
    return query_for_people(con, person_ids, "list_person_status.sql")


def load_timelines(cfg: PlaceConfig, person_ids, as_of: date) -> pd.DataFrame:
    """Contacts by agency and week over the last year (person_id, source, week_ago 0..52, events)."""
    with connect(cfg) as con:
        return query_for_people(con, person_ids, "list_timelines.sql", {"as_of": as_of, "days": TIMELINE_DAYS})


def load_trends(cfg: PlaceConfig, runs: int) -> pd.DataFrame:
    """Counts per published run, team, section and tier over the last `runs` published runs."""
    with connect(cfg) as con:
        return con.execute(read_sql(SQL_DIR / "list_trends.sql"), {"runs": runs}).df()


