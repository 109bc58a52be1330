"""Feature SQL on a hand-made warehouse: windows, domains, households, point in time."""

from datetime import date

import pandas as pd
import pytest

from helpers import add_event, add_person, write_place
from stratify.features.build import build_feature_table, model_feature_columns
from stratify.link import link_persons
from stratify.run.context import RunContext
from stratify.warehouse.database import connect

AS_OF = date(2026, 6, 1)


@pytest.fixture()
def place(tmp_path):
    cfg = write_place(tmp_path)
    ctx = RunContext("r1", "test", AS_OF)
    with connect(cfg) as con:
        a = add_person(con, 1, household=1)
        b = add_person(con, 2, household=1, born="2015-03")
        c = add_person(con, 3, opted_out=True)
        add_event(con, a, "housing", "rough_sleeping", date(2026, 5, 1))
        add_event(con, a, "health", "overdose", date(2026, 4, 1))
        add_event(con, a, "police", "arrest", date(2026, 5, 20), role="suspect")
        add_event(con, a, "health", "ae_attendance", date(2026, 5, 25), diagnosis="F10.2")
        add_event(con, a, "police", "violent_crime", date(2026, 5, 25), role="victim")
        add_event(con, a, "police", "violent_crime", date(2026, 5, 26), role="suspect")
        add_event(con, a, "police", "incident", date(2025, 9, 1))  # outside 90 days, inside 365
        add_event(con, a, "police", "incident", date(2026, 6, 2))  # after the snapshot date
        add_event(con, b, "social_care", "child_protection_start", date(2026, 2, 1))
        add_event(con, c, "police", "arrest", date(2026, 5, 1))
    link_persons(cfg, ctx)
    return cfg, a, b, c


def features(cfg, as_of=AS_OF, known_at=None):
    with connect(cfg) as con:
        build_feature_table(con, cfg, as_of, known_at=known_at)
        df = con.execute("SELECT * FROM feat_person").df().set_index("person_id")
        cols = model_feature_columns(con)
    return df, cols


def test_windows_domains_and_household(place):
    cfg, a, b, c = place
    df, cols = features(cfg)
    assert c not in df.index, "opted-out people are never linked"
    ra, rb = df.loc[a], df.loc[b]
    assert ra["police_events_90d"] == 3 and ra["police_events_365d"] == 4
    assert ra["police_arrest_90d"] == 1 and ra["health_ae_attendance_90d"] == 1
    # homelessness (rough sleeping), substance (overdose + F10), offending (arrest), violence (victim only)
    assert ra["smd_domains_365d"] == 4
    assert ra["smd_domain_names_365d"] == "homelessness, offending, substance misuse, violence and abuse"
    assert ra["smd_substance_misuse_events_90d"] == 2
    assert ra["health_days_since_last"] == 7 and ra["social_care_days_since_last"] == 730
    assert ra["agencies_365d"] == 3
    assert ra["household_members"] == 2 and ra["household_children_on_plans_365d"] == 1
    assert ra["household_others_smd_365d"] == 0
    assert rb["age_band"] == "0-17" and rb["age_years"] == 11
    assert ra["police_trend_90d"] == pytest.approx(3 - 1 * 90 / 275)
    assert "person_id" not in cols and "team" not in cols and "police_events_90d" in cols


def test_a_later_delivery_cannot_change_an_earlier_snapshot(place):
    cfg, a, *_ = place
    before, _ = features(cfg, known_at=date(2026, 6, 1))
    with connect(cfg) as con:
        # delivered later, dated in the past: a late record
        add_event(con, a, "police", "custody", date(2026, 5, 30), delivered=date(2026, 6, 10), delivery_id=2)
        # a correction delivered later supersedes an earlier row only from its delivery date
        con.execute("UPDATE raw_events SET superseded_on = DATE '2026-06-10', superseded_by = 2 "
                    "WHERE event_type = 'overdose'")
    after, _ = features(cfg, known_at=date(2026, 6, 1))
    assert before.equals(after)
    now, _ = features(cfg, known_at=date(2026, 6, 10))
    assert now.loc[a, "police_custody_90d"] == 1 and now.loc[a, "health_overdose_90d"] == 0


def test_person_without_events_gets_zeros(place):
    cfg, *_ = place
    with connect(cfg) as con:
        add_person(con, 9)
    link_persons(cfg, RunContext("r1", "test", AS_OF))
    df, cols = features(cfg)
    row = df.loc[f"{9:064x}"]
    assert row["all_events_365d"] == 0 and row["police_days_since_last"] == 730
    assert not row[cols].isna().any()


def test_one_build_over_many_dates_equals_one_build_per_date(place):
    """Training builds every monthly snapshot in one pass: each date must match its own nightly build."""
    from stratify.features.build import build_feature_snapshots

    cfg, *_ = place
    dates = [date(2025, 9, 1), date(2026, 5, 21), AS_OF]
    known_at = date(2026, 6, 10)
    with connect(cfg) as con:
        build_feature_snapshots(con, cfg, dates, known_at, target="feat_train", persons="persons")
        together = con.execute("SELECT * FROM feat_train ORDER BY as_of, person_id").df()
    singles = []
    for d in dates:
        df, _ = features(cfg, as_of=d, known_at=known_at)
        singles.append(df.reset_index())
    apart = pd.concat(singles).sort_values(["as_of", "person_id"]).reset_index(drop=True)
    assert list(together.columns) == list(apart[together.columns].columns)
    pd.testing.assert_frame_equal(together, apart[together.columns], check_dtype=False)
    assert together.groupby("as_of")["police_events_365d"].sum().tolist() != [0, 0, 0]


def test_age_is_in_whole_years_never_rounded_up(tmp_path):
    """Born December 2008: 17 years and 6 months on 1 June 2026 is 17 (0-17), not 18 (DuckDB rounds a cast)."""
    cfg = write_place(tmp_path)
    with connect(cfg) as con:
        young = add_person(con, 1, born="2008-12")
        adult = add_person(con, 2, born="2008-06")
    link_persons(cfg, RunContext("r1", "test", AS_OF))
    df, _ = features(cfg)
    assert (df.loc[young, "age_years"], df.loc[young, "age_band"]) == (17, "0-17")
    assert (df.loc[adult, "age_years"], df.loc[adult, "age_band"]) == (18, "18-24")
