"""The measures' SQL files on a few inline rows: past lists' precision, crisis history, who could be listed."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from stratify.measures.inputs import MEASURES_SQL
from stratify.model.past_lists import (
    answer_training_flags,
    open_training_flags,
    past_list_precision,
    save_training_flags,
    shortfalls,
)
from stratify.resources import DDL_DIR
from stratify.warehouse.sql import read_sql, run_sql_file


@pytest.fixture()
def con():
    c = duckdb.connect()
    for ddl in ("001_audit.sql", "004_list_history.sql", "010_crisis_history.sql", "011_training_flags.sql"):
        c.execute(read_sql(DDL_DIR / ddl))
    yield c
    c.close()


def _listed(con, as_of, team, person, tier, score, run=None):
    con.execute("INSERT INTO list_history VALUES (?, ?, now(), ?, ?, 'listed', ?, ?, 1, 'new')",
                [run or f"run-{as_of}", as_of, team, person, tier, score])


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
    (row,) = past_list_precision(con, date(2026, 11, 1), 6, min_count=3, margin=0.10)
    assert row["team"] == "NT01" and row["month"] == "2026-01-01"
    assert row["wobbling"] == 12 and row["realised_precision"] == pytest.approx(3 / 12)
    assert row["promised_precision"] == pytest.approx(0.5)
    assert row["crisis_still_in_crisis_share"] == pytest.approx(4 / 10)
    assert row["fewest_nights_observed"] == 2
    assert row["short"]
    (short,) = shortfalls([row], 0.10)
    assert short["team"] == "NT01" and "25%" in short["text"] and "50% promised" in short["text"]
    # a wider margin (0.25 below 0.5 is not more than 0.3 below it) is no shortfall
    (wide,) = past_list_precision(con, date(2026, 11, 1), 6, min_count=3, margin=0.30)
    assert not wide["short"] and shortfalls([wide], 0.30) == []


def test_a_person_on_every_nightly_list_of_a_month_counts_once_from_their_first_list(con):
    for day in (5, 6, 7, 8):  # four nightly lists: the same twelve people, scores rising
        for i in range(12):
            _listed(con, date(2026, 1, day), "NT01", f"w{i:02d}", "wobbling", 0.1 * (day - 4))
    # w00..w03 met a crisis rule on 7 July 2026: within six months of 5 January? no; of 8 January? no; all after
    con.execute("INSERT INTO crisis_history VALUES " + ", ".join(f"('2026-07-06', 'w{i:02d}')" for i in range(4)))
    (row,) = past_list_precision(con, date(2026, 11, 1), 6, min_count=3, margin=0.10)
    assert row["lists"] == 4 and row["wobbling"] == 12  # people, not 48 list entries
    assert row["promised_precision"] == pytest.approx(0.1)  # their score on the first list that showed them
    assert row["realised_precision"] == pytest.approx(0.0)  # 6 July is after 5 July: outside the horizon


def test_lists_younger_than_the_horizon_are_not_judged_and_small_ones_are_withheld(con):
    _listed(con, date(2026, 9, 1), "NT01", "young", "wobbling", 0.3)
    for i in range(4):
        _listed(con, date(2026, 2, 1), "NT02", f"s{i}", "wobbling", 0.3)
    rows = past_list_precision(con, date(2026, 11, 1), 6, min_count=10, margin=0.10)
    assert [r["team"] for r in rows] == ["NT02"]
    assert rows[0]["suppressed"] and rows[0]["realised_precision"] is None and rows[0]["wobbling"] is None
    assert not rows[0]["short"]  # too few people to judge: never a shortfall


def test_a_small_count_of_people_who_met_a_crisis_is_withheld_but_the_shortfall_still_judged(con):
    for i in range(20):
        _listed(con, date(2026, 2, 1), "NT01", f"w{i:02d}", "wobbling", 0.6)
    con.execute("INSERT INTO crisis_history VALUES ('2026-03-01', 'w00'), ('2026-03-01', 'w01')")
    (row,) = past_list_precision(con, date(2026, 11, 1), 6, min_count=10, margin=0.15)
    assert row["wobbling"] == 20 and row["realised_precision"] is None  # 2 of 20: a small number
    assert row["promised_precision"] == pytest.approx(0.6) and row["short"]
    (short,) = shortfalls([row], 0.15)
    assert "withheld" in short["text"] and "10%" not in short["text"]  # 2 of 20 is never written


def test_shortfalls_flag_the_next_training_once_and_a_promoted_model_answers_them(con):
    a = {"team": "NT01", "month": "2026-02-01", "text": "team NT01, lists of 2026-02: short"}
    b = {"team": "NT02", "month": "2026-02-01", "text": "team NT02, lists of 2026-02: short"}
    save_training_flags(con, "r1", date(2026, 9, 1), [a, b])
    save_training_flags(con, "r2", date(2026, 9, 2), [a, b])  # the next night finds the same: no second flag
    assert [(f["team"], f["run_id"]) for f in open_training_flags(con)] == [("NT01", "r1"), ("NT02", "r1")]
    save_training_flags(con, "r3", date(2026, 9, 3), [a])  # NT02's month is no longer short: withdrawn
    assert [f["team"] for f in open_training_flags(con)] == ["NT01"]
    answer_training_flags(con, "20260904-his-abc")
    assert open_training_flags(con) == []
    save_training_flags(con, "r4", date(2026, 9, 5), [a])  # answered once: the same month is not raised again
    assert open_training_flags(con) == []
    assert con.execute("SELECT answered_by FROM training_flags").fetchall() == [("20260904-his-abc",)]


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
                "('noteam', NULL, 'M', 'W', '1990-01', false), ('nearly18', 'NT01', 'M', 'W', '2009-05', false)")
    con.execute("CREATE TABLE crisis (person_id VARCHAR, in_crisis BOOLEAN)")
    con.execute("INSERT INTO crisis VALUES ('a', true)")
    rows = con.execute(read_sql(MEASURES_SQL / "selection_people.sql"), {"as_of": date(2026, 11, 20)}).fetchall()
    # 17 years and 6 months is 17, not 18 (a rounded cast would band them with adults)
    assert sorted(rows) == [("a", "NT01", "F", "W", "18-24", True), ("b", "NT01", "U", "Z", "65+", False),
                            ("nearly18", "NT01", "M", "W", "0-17", False)]
