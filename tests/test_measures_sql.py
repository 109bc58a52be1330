"""The measures' SQL files on a few inline rows: past lists' precision, crisis history, who could be listed."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from stratify.measures.inputs import MEASURES_SQL
from stratify.measures.stage import past_list_precision, shortfalls
from stratify.resources import DDL_DIR
from stratify.warehouse.sql import read_sql, run_sql_file


@pytest.fixture()
def con():
    c = duckdb.connect()
    for ddl in ("004_list_history.sql", "010_crisis_history.sql"):
        c.execute(read_sql(DDL_DIR / ddl))
    yield c
    c.close()


def _listed(con, as_of, team, person, tier, score):
    con.execute("INSERT INTO list_history VALUES (?, ?, now(), ?, ?, 'listed', ?, ?, 1, 'new')",
                [f"run-{as_of}", as_of, team, person, tier, score])


def test_realised_precision_counts_crises_on_nights_within_the_horizon_only(con):
    listed_on = date(2026, 1, 10)
    for i in range(12):
        _listed(con, listed_on, "NT01", f"w{i:02d}", "wobbling", 0.5)
    for i in range(10):
        _listed(con, listed_on, "NT01", f"c{i:02d}", "crisis", 1.0)
    nights = [date(2026, 3, 1), date(2026, 7, 10), date(2026, 8, 1)]
    con.execute("INSERT INTO crisis_history VALUES " + ", ".join(
        [f"('{nights[0]}', 'w{i:02d}')" for i in range(3)]        # within six months: counts
        + [f"('{nights[2]}', 'w{i:02d}')" for i in range(3, 9)]   # after the horizon: does not
        + [f"('{nights[1]}', 'c{i:02d}')" for i in range(4)]))    # the night one horizon later
    (row,) = past_list_precision(con, date(2026, 11, 1), 6, min_count=10)
    assert row["team"] == "NT01" and row["month"] == "2026-01-01"
    assert row["wobbling"] == 12 and row["realised_precision"] == pytest.approx(3 / 12)
    assert row["promised_precision"] == pytest.approx(0.5)
    assert row["crisis_still_in_crisis_share"] == pytest.approx(4 / 10)
    assert row["fewest_nights_observed"] == 2
    assert shortfalls([row]) and "25%" in shortfalls([row])[0]


def test_lists_younger_than_the_horizon_are_not_judged_and_small_ones_are_withheld(con):
    _listed(con, date(2026, 9, 1), "NT01", "young", "wobbling", 0.3)
    for i in range(4):
        _listed(con, date(2026, 2, 1), "NT02", f"s{i}", "wobbling", 0.3)
    rows = past_list_precision(con, date(2026, 11, 1), 6, min_count=10)
    assert [r["team"] for r in rows] == ["NT02"]
    assert rows[0]["suppressed"] and rows[0]["realised_precision"] is None and rows[0]["wobbling"] is None


def test_crisis_history_replaces_a_night_that_runs_again(con):
    con.execute("CREATE TABLE crisis (person_id VARCHAR, in_crisis BOOLEAN)")
    con.execute("INSERT INTO crisis VALUES ('a', true), ('b', false), ('c', true)")
    for _ in range(2):
        run_sql_file(con, MEASURES_SQL / "crisis_history_save.sql", {"as_of": date(2026, 11, 20)})
    assert con.execute("SELECT person_id FROM crisis_history ORDER BY 1").fetchall() == [("a",), ("c",)]


def test_selection_people_are_the_living_with_a_team_and_age_bands_as_the_features(con):
    con.execute("CREATE TABLE persons (person_id VARCHAR, team VARCHAR, sex VARCHAR, ethnic_group VARCHAR, "
                "birth_year_month VARCHAR, died BOOLEAN)")
    con.execute("INSERT INTO persons VALUES ('a', 'NT01', 'F', 'W', '2002-11', false), "
                "('b', 'NT01', NULL, NULL, '1950-01', false), ('dead', 'NT01', 'M', 'W', '1950-01', true), "
                "('noteam', NULL, 'M', 'W', '1990-01', false)")
    con.execute("CREATE TABLE crisis (person_id VARCHAR, in_crisis BOOLEAN)")
    con.execute("INSERT INTO crisis VALUES ('a', true)")
    rows = con.execute(read_sql(MEASURES_SQL / "selection_people.sql"), {"as_of": date(2026, 11, 20)}).fetchall()
    assert sorted(rows) == [("a", "NT01", "F", "W", "18-24", True), ("b", "NT01", "U", "Z", "65+", False)]
