"""Lists a team can act on: ranking, households, capacity, outcomes, snoozing, change, drop-offs, Excel.

Pure rules are tested on hand-made frames (and with hypothesis where they are
algebraic); the outcome SQL on a small warehouse; the whole night twice on a
small synthetic place (slow).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import add_person, no_settle_pause, pid, write_place
from stratify.config import ListsConfig
from stratify.lists.change import change_against, dropped_people
from stratify.lists.outcomes import outcome_sections, snooze_baseline
from stratify.lists.rank import cap_households, group_households, household_key, order_people, rank_team, tier_level
from stratify.lists.team import TeamLists, build_team_lists

AS_OF = date(2026, 11, 20)
RULES = ListsConfig(already_working_days=90, snooze_days=90)


def cand(rows) -> pd.DataFrame:
    """Candidates from (n, tier, score, severity, household n or None)."""
    return pd.DataFrame([{"person_id": pid(n), "tier": tier, "score": score, "severity": sev,
                          "household_id": pid(10_000 + hh) if hh is not None else None,
                          "reasons": f"reason {n}", "agencies": "health", "household_members": 1}
                         for n, tier, score, sev, hh in rows],
                        columns=["person_id", "tier", "score", "severity", "household_id", "reasons", "agencies",
                                 "household_members"])


def no_outcomes() -> pd.DataFrame:
    return pd.DataFrame(columns=["person_id", "status_outcome", "status_date", "last_outcome", "last_date"])


def no_history() -> pd.DataFrame:
    return pd.DataFrame(columns=["person_id", "as_of", "published_at", "tier"])


def outcome(n: int, what: str, days_ago: int, last: str | None = None) -> dict:
    when = pd.Timestamp(AS_OF - timedelta(days=days_ago))
    return {"person_id": pid(n), "status_outcome": what, "status_date": when,
            "last_outcome": last or what, "last_date": when}


# --------------------------------------------------------------------------- ordering and households


def test_crisis_by_severity_then_wobbling_by_score_ties_by_pseudonym():
    c = cand([(1, "wobbling", 0.30, 5, None), (2, "crisis", 1.0, 1_000_010, None), (3, "crisis", 1.0, 2_000_001, None),
              (4, "wobbling", 0.40, 0, None), (5, "wobbling", 0.30, 9, None), (6, "", 0.01, 0, None)])
    assert list(order_people(c)["person_id"]) == [pid(3), pid(2), pid(4), pid(1), pid(5)]


def test_household_is_listed_where_its_highest_ranked_member_stands():
    c = cand([(1, "crisis", 1.0, 3_000_000, 7), (2, "crisis", 1.0, 2_000_000, None), (3, "wobbling", 0.2, 0, 7),
              (4, "wobbling", 0.9, 0, None), (5, "wobbling", 0.1, 0, 8), (6, "wobbling", 0.5, 0, 8)])
    g = group_households(order_people(c))
    assert list(g["person_id"]) == [pid(1), pid(3), pid(2), pid(4), pid(6), pid(5)]
    assert list(g["household_rank"]) == [1, 1, 2, 3, 4, 4]
    assert list(g["household_tier"]) == ["crisis", "crisis", "crisis", "wobbling", "wobbling", "wobbling"]
    assert list(g["tier"])[:2] == ["crisis", "wobbling"]  # each member keeps their own tier


def test_people_without_a_household_are_households_of_one():
    c = cand([(1, "wobbling", 0.5, 0, None), (2, "wobbling", 0.4, 0, None)])
    assert household_key(c).tolist() == ["p:" + pid(1), "p:" + pid(2)]
    assert list(rank_team(c, 5)["household_rank"]) == [1, 2]


def test_capacity_takes_whole_households_and_stops_at_the_first_that_does_not_fit():
    c = cand([(1, "crisis", 1.0, 9, None), (2, "crisis", 1.0, 8, 5), (3, "wobbling", 0.9, 0, 5), (4, "wobbling", 0.8, 0, 5),
              (5, "wobbling", 0.7, 0, None)])
    listed = rank_team(c, 3)
    # household 5 (three people) does not fit after person 1: the list ends; person 5 is not moved up past it
    assert list(listed["person_id"]) == [pid(1)]
    assert list(rank_team(c, 4)["person_id"]) == [pid(1), pid(2), pid(3), pid(4)]
    assert list(rank_team(c, 4)["rank"]) == [1, 2, 3, 4]
    assert list(rank_team(c, 4)["household_listed"]) == [1, 3, 3, 3]


def test_a_household_larger_than_the_capacity_is_cut_to_its_highest_ranked_members():
    c = cand([(1, "wobbling", 0.2, 0, 3), (2, "crisis", 1.0, 5, 3), (3, "wobbling", 0.9, 0, 3), (4, "wobbling", 0.95, 0, None)])
    assert list(rank_team(c, 2)["person_id"]) == [pid(2), pid(3)]


candidate_rows = st.lists(
    st.tuples(st.sampled_from(["crisis", "wobbling", ""]), st.floats(0.05, 1.0), st.integers(0, 3_000_000),
              st.one_of(st.none(), st.integers(0, 6))),
    max_size=40,
)


@settings(max_examples=100, deadline=None)
@given(rows=candidate_rows, capacity=st.integers(1, 25))
def test_ranked_list_rules_hold_for_any_candidates(rows, capacity):
    c = cand([(i, t, s if t != "crisis" else 1.0, sev, hh) for i, (t, s, sev, hh) in enumerate(rows)])
    ordered = order_people(c)
    grouped = group_households(ordered)
    listed = cap_households(grouped, capacity)
    n = len(listed)
    assert n <= capacity
    assert list(listed["rank"]) == list(range(1, n + 1))
    assert set(listed["tier"]) <= {"crisis", "wobbling"}
    keys = household_key(listed).tolist()
    # each household is contiguous and appears once
    runs = [k for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k]
    assert len(runs) == len(set(runs))
    # households led by someone in crisis come before households led by someone wobbling
    leads = [listed["tier"].iloc[keys.index(k)] for k in runs]
    assert leads == sorted(leads, key=["crisis", "wobbling"].index)
    # a household is led by its highest-ranked member, members in person order
    for k in runs:
        members = listed[[x == k for x in keys]]
        assert list(members["person_order"]) == sorted(members["person_order"])
    # the listed households are the first ones in household order, whole (only a single oversize one is cut)
    all_keys = household_key(grouped).tolist()
    order = [k for i, k in enumerate(all_keys) if i == 0 or all_keys[i - 1] != k]
    assert runs == order[: len(runs)]
    size = {k: all_keys.count(k) for k in order}
    if len(runs) == 1 and size[runs[0]] > capacity:
        assert n == capacity
    else:
        assert n == sum(size[k] for k in runs)
        if len(runs) < len(order):
            assert n + size[order[len(runs)]] > capacity  # the next household really did not fit
    # with no households at all, the list is simply the first `capacity` people
    if c["household_id"].isna().all():
        assert list(listed["person_id"]) == list(ordered["person_id"].head(capacity))


# --------------------------------------------------------------------------- outcomes and snoozing


def test_engaged_recently_is_already_working_with_not_listed_and_not_counted():
    c = cand([(1, "crisis", 1.0, 9, None), (2, "wobbling", 0.5, 0, None), (3, "wobbling", 0.4, 0, None)])
    out = pd.DataFrame([outcome(1, "engaged", 10), outcome(3, "already_supported", 120)])
    t = build_team_lists("NT01", 2, c, out, no_history(), None, pd.DataFrame(), RULES, AS_OF)
    assert list(t.already_working["person_id"]) == [pid(1)]
    assert list(t.listed["person_id"]) == [pid(2), pid(3)]  # capacity 2 is not spent on person 1
    assert list(t.listed["change"]) == ["new", "new"]
    assert t.listed.loc[t.listed["person_id"] == pid(3), "last_outcome"].item() == "already_supported"  # too old to count


def test_declined_is_snoozed_for_snooze_days_then_listed_again():
    c = cand([(1, "wobbling", 0.5, 0, None)])
    for days, section in ((0, "snoozed"), (89, "snoozed"), (90, "listed"), (200, "listed")):
        s = outcome_sections(c, pd.DataFrame([outcome(1, "declined", days)]), no_history(), RULES, AS_OF)
        assert s["section"].item() == section, days
    s = outcome_sections(c, pd.DataFrame([outcome(1, "not_appropriate", 30)]), no_history(), RULES, AS_OF)
    assert s["section"].item() == "snoozed"
    assert s["until"].item() == AS_OF - timedelta(days=30) + timedelta(days=90)


def test_snoozed_person_comes_back_when_their_tier_rises():
    c = cand([(1, "crisis", 1.0, 5, None), (2, "wobbling", 0.9, 0, None)])
    out = pd.DataFrame([outcome(1, "declined", 20), outcome(2, "declined", 20)])
    history = pd.DataFrame([
        {"person_id": pid(1), "as_of": AS_OF - timedelta(days=25), "published_at": pd.Timestamp("2026-10-26"), "tier": "wobbling"},
        {"person_id": pid(2), "as_of": AS_OF - timedelta(days=25), "published_at": pd.Timestamp("2026-10-26"), "tier": "wobbling"},
    ])
    t = build_team_lists("NT01", 10, c, out, history, None, pd.DataFrame(), RULES, AS_OF)
    assert list(t.listed["person_id"]) == [pid(1)]  # wobbling -> crisis since declining: back on the list
    assert "risk rose from wobbling to crisis" in t.listed["note"].item()
    assert list(t.snoozed["person_id"]) == [pid(2)]  # still wobbling: stays snoozed


def test_snooze_baseline_is_what_the_team_saw_when_it_recorded_the_outcome():
    h = pd.DataFrame({"as_of": pd.to_datetime(["2026-10-01", "2026-10-10", "2026-10-20"]),
                      "published_at": pd.to_datetime(["2026-10-01", "2026-10-10", "2026-10-20"]),
                      "tier": ["wobbling", "crisis", "wobbling"]})
    assert snooze_baseline(h, date(2026, 10, 12), "wobbling") == "crisis"
    assert snooze_baseline(h, date(2026, 9, 1), "crisis") == "wobbling"  # none before: the run that first snoozed
    assert snooze_baseline(h.iloc[0:0], date(2026, 9, 1), "crisis") == "crisis"  # never shown: tonight's tier


@settings(max_examples=100, deadline=None)
@given(what=st.sampled_from(["engaged", "already_supported", "declined", "not_appropriate"]),
       days=st.integers(0, 400), now=st.sampled_from(["crisis", "wobbling"]),
       then=st.sampled_from(["crisis", "wobbling"]), aw=st.integers(0, 200), sn=st.integers(0, 200))
def test_outcome_section_rule(what, days, now, then, aw, sn):
    c = cand([(1, now, 0.5, 1, None)])
    history = pd.DataFrame([{"person_id": pid(1), "as_of": AS_OF - timedelta(days=days),
                             "published_at": pd.Timestamp(AS_OF - timedelta(days=days)), "tier": then}])
    s = outcome_sections(c, pd.DataFrame([outcome(1, what, days)]), history, ListsConfig(aw, sn), AS_OF)
    if what in ("engaged", "already_supported"):
        expected = "already_working" if days < aw else "listed"
    else:
        expected = "snoozed" if days < sn and tier_level(now) <= tier_level(then) else "listed"
    assert s["section"].item() == expected


# --------------------------------------------------------------------------- change and drop-offs


def test_change_against_the_previous_list():
    prev = pd.DataFrame({"rank": ["1", "2", "3"], "person_id": [pid(1), pid(2), pid(3)],
                         "tier": ["crisis", "wobbling", "wobbling"]})
    cur = pd.DataFrame({"rank": [1, 2, 3, 4], "person_id": [pid(2), pid(1), pid(3), pid(4)],
                        "tier": ["crisis", "crisis", "wobbling", "wobbling"]})
    assert change_against(cur, prev) == ["up", "down", "same", "new"]


def test_every_drop_off_has_its_reason():
    prev = pd.DataFrame({"rank": [str(i) for i in range(1, 9)], "person_id": [pid(i) for i in range(1, 9)],
                         "household_id": [""] * 8, "tier": ["crisis"] * 3 + ["wobbling"] * 5,
                         "score": ["1.0000"] * 3 + ["0.5000", "0.4000", "0.3000", "0.2000", "0.1000"]})
    status = pd.DataFrame([
        {"person_id": pid(1), "team": "NT01", "died": True, "tier": "", "score": None},
        # pid(2) is not in persons any more (left the register or opted out)
        {"person_id": pid(3), "team": "NT02", "died": False, "tier": "crisis", "score": 1.0},
        {"person_id": pid(4), "team": "NT01", "died": False, "tier": "wobbling", "score": 0.5},
        {"person_id": pid(5), "team": "NT01", "died": False, "tier": "", "score": 0.01},
        {"person_id": pid(6), "team": "NT01", "died": False, "tier": "wobbling", "score": 0.25},
        {"person_id": pid(7), "team": "NT01", "died": False, "tier": "wobbling", "score": 0.3},
        {"person_id": pid(8), "team": "NT01", "died": False, "tier": "wobbling", "score": 0.1},
    ])
    sections = pd.DataFrame([
        {"person_id": pid(4), "section": "snoozed", "outcome": "declined", "outcome_date": pd.Timestamp("2026-11-19"),
         "until": pd.Timestamp("2027-02-17"), "note": ""},
        {"person_id": pid(6), "section": "listed", "outcome": None, "outcome_date": pd.NaT, "until": None, "note": ""},
        {"person_id": pid(7), "section": "listed", "outcome": None, "outcome_date": pd.NaT, "until": None, "note": ""},
    ])
    listed = pd.DataFrame({"person_id": [pid(8)]})
    d = dropped_people("NT01", 50, prev, listed, status, sections, RULES).set_index("person_id")
    assert pid(8) not in d.index
    assert d.loc[pid(1), "reason"] == "died"
    assert d.loc[pid(2), "reason"] == "left the register"
    assert d.loc[pid(3), "reason"] == "moved team" and "NT02" in d.loc[pid(3), "detail"]
    assert d.loc[pid(4), "reason"] == "outcome recorded" and "snoozed until 2027-02-17" in d.loc[pid(4), "detail"]
    assert d.loc[pid(5), "reason"] == "score fell" and "below the wobbling threshold" in d.loc[pid(5), "detail"]
    assert d.loc[pid(6), "reason"] == "score fell"
    assert d.loc[pid(7), "reason"] == "below capacity"
    assert d.loc[pid(1), "previous_rank"] == 1 and d.loc[pid(7), "previous_tier"] == "wobbling"


def test_no_previous_list_means_everyone_new_and_nobody_dropped():
    t = build_team_lists("NT01", 5, cand([(1, "crisis", 1.0, 5, None)]), no_outcomes(), no_history(), None,
                         pd.DataFrame(), RULES, AS_OF)
    assert list(t.listed["change"]) == ["new"] and t.dropped.empty and not t.previous_published


# --------------------------------------------------------------------------- the outcome SQL


def test_list_outcomes_sql_latest_status_per_team_point_in_time(tmp_path):
    from stratify.lists.queries import load_outcomes
    from stratify.warehouse.database import SQL_DIR, connect, run_sql_file

    cfg = write_place(tmp_path)
    with connect(cfg) as con:
        for n in (1, 2, 3):
            add_person(con, n)
        con.execute("CREATE OR REPLACE TABLE neighbourhoods AS SELECT * FROM (VALUES ('E01000001', 'NT01')) t(lsoa21, team)")
        run_sql_file(con, SQL_DIR / "persons.sql", {"as_of": AS_OF})
        rows = [  # record_id, person, team, event_date, outcome, delivered_on, superseded_on
            ("o1", 1, "NT01", "2026-10-01", "engaged", "2026-10-02", None),
            ("o2", 1, "NT01", "2026-11-01", "declined", "2026-11-02", None),
            ("o3", 1, "NT01", "2026-11-10", "contacted", "2026-11-11", None),
            ("o4", 1, "NT02", "2026-11-12", "engaged", "2026-11-13", None),
            ("o5", 2, None, "2026-11-01", "already_supported", "2026-11-02", None),
            ("o6", 2, "NT01", "2026-11-15", "declined", "2026-11-16", "2026-11-17"),  # corrected away
            ("o7", 3, "NT01", "2026-11-19", "engaged", "2026-11-25", None),  # delivered after as_of
        ]
        for i, (rid, n, team, on, what, delivered, superseded) in enumerate(rows):
            con.execute("INSERT INTO raw_outcomes VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
                        [rid, pid(n), team, on, what, i + 1, delivered, superseded])
    out = load_outcomes(cfg, AS_OF).set_index(["person_id", "team"])
    assert out.loc[(pid(1), "NT01"), "status_outcome"] == "declined"
    assert out.loc[(pid(1), "NT01"), "last_outcome"] == "contacted"
    assert out.loc[(pid(1), "NT02"), "status_outcome"] == "engaged"
    assert out.loc[(pid(2), "NT01"), "status_outcome"] == "already_supported"  # no team: the person's current team
    assert (pid(3), "NT01") not in out.index
    assert len(out) == 3


def test_list_outcomes_sql_wrong_person_and_moved_away_until_the_data_changes(tmp_path):
    from stratify.lists.queries import load_outcomes
    from stratify.warehouse.database import SQL_DIR, connect, run_sql_file

    cfg = write_place(tmp_path)
    with connect(cfg) as con:
        for n in range(1, 7):
            add_person(con, n)  # register rows delivered 2026-01-01
        # person 2's and 5's register rows change after their outcomes were delivered
        for n in (2, 5):
            con.execute("UPDATE raw_register SET superseded_on = DATE '2026-11-15' WHERE person_id = $1", [pid(n)])
            add_person(con, n, delivered=date(2026, 11, 15), delivery_id=2)
        con.execute("CREATE OR REPLACE TABLE neighbourhoods AS SELECT * FROM (VALUES ('E01000001', 'NT01')) t(lsoa21, team)")
        run_sql_file(con, SQL_DIR / "persons.sql", {"as_of": AS_OF})
        rows = [  # record_id, person, team, event_date, outcome, delivered_on
            ("w1", 1, "NT01", "2026-11-01", "wrong_person", "2026-11-02"),   # in force
            ("w2", 2, "NT01", "2026-11-01", "wrong_person", "2026-11-02"),   # a register row came after it
            ("w3", 3, "NT01", "2026-11-01", "wrong_person", "2026-11-02"),
            ("w3b", 3, "NT01", "2026-11-05", "contacted", "2026-11-06"),     # a later outcome: the data changed
            ("w4", 4, "NT02", "2026-11-01", "wrong_person", "2026-11-02"),   # another team's: off every list
            ("m5", 5, "NT01", "2026-11-01", "moved_away", "2026-11-02"),     # a register row came after it
            ("m6", 6, "NT01", "2026-11-01", "moved_away", "2026-11-02"),     # in force for NT01
        ]
        for i, (rid, n, team, on, what, delivered) in enumerate(rows):
            con.execute("INSERT INTO raw_outcomes VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)",
                        [rid, pid(n), team, on, what, i + 10, delivered])
    out = load_outcomes(cfg, AS_OF).set_index(["person_id", "team"])
    withdrawn = out["withdrawn"].dropna().to_dict()
    assert withdrawn == {(pid(1), "NT01"): "wrong_person", (pid(4), "NT01"): "wrong_person",
                         (pid(4), "NT02"): "wrong_person", (pid(6), "NT01"): "moved_away"}
    assert out.loc[(pid(3), "NT01"), "last_outcome"] == "contacted"  # shown as the last outcome
    assert str(out.loc[(pid(1), "NT01"), "withdrawn_date"])[:10] == "2026-11-01"


def test_wrong_person_and_moved_away_take_people_off_the_list_and_say_why_in_dropped():
    c = cand([(1, "crisis", 1.0, 5, None), (2, "wobbling", 0.9, 0, None), (3, "wobbling", 0.8, 0, None),
              (4, "wobbling", 0.7, 0, None)])
    when = pd.Timestamp(AS_OF - timedelta(days=3))
    out = pd.DataFrame([
        {**outcome(1, "engaged", 3, last="wrong_person"), "withdrawn": "wrong_person", "withdrawn_date": when},
        {**outcome(2, "declined", 3, last="moved_away"), "withdrawn": "moved_away", "withdrawn_date": when},
        {**outcome(3, "contacted", 3), "status_outcome": None, "status_date": pd.NaT, "withdrawn": None,
         "withdrawn_date": pd.NaT},
    ])
    previous = pd.DataFrame({"rank": ["1", "2", "3"], "person_id": [pid(1), pid(2), pid(3)],
                             "household_id": ["", "", ""], "tier": ["crisis", "wobbling", "wobbling"],
                             "score": ["1.0000", "0.9000", "0.8000"]})
    status = pd.DataFrame([{"person_id": pid(n), "team": "NT01", "died": False, "tier": t, "score": s}
                           for n, t, s in ((1, "crisis", 1.0), (2, "wobbling", 0.9), (3, "wobbling", 0.8))])
    t = build_team_lists("NT01", 10, c, out, no_history(), previous, status, RULES, AS_OF)
    assert list(t.listed["person_id"]) == [pid(3), pid(4)]
    assert t.already_working.empty and t.snoozed.empty  # withdrawn outranks engaged / declined
    assert t.listed.set_index("person_id").loc[pid(3), "last_outcome"] == "contacted"
    d = t.dropped.set_index("person_id")
    assert d.loc[pid(1), "reason"] == "wrong person" and "linkage problem" in d.loc[pid(1), "detail"]
    assert d.loc[pid(2), "reason"] == "moved away" and "register row" in d.loc[pid(2), "detail"]
    assert t.withdrawn == {"wrong_person": 1, "moved_away": 1}


# --------------------------------------------------------------------------- Excel


def _team(listed_rows, **kw) -> TeamLists:
    c = cand(listed_rows)
    t = build_team_lists("NT01", 10, c, no_outcomes(), no_history(), None, pd.DataFrame(), RULES, AS_OF)
    for k, v in kw.items():
        setattr(t, k, v)
    return t


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\",\"y\")", "+1+2", "-3", "@SUM(A1)", "\t=1"])
def test_workbook_cells_that_look_like_formulas_stay_text(tmp_path, text):
    import openpyxl

    from stratify.publish.workbook import write_workbook

    t = _team([(1, "crisis", 1.0, 5, None), (2, "wobbling", 0.5, 0, None)])
    t.listed.loc[0, "reasons"] = text
    t.listed.loc[1, "agencies"] = text
    path = write_workbook(tmp_path / "NT01.xlsx", t, "test", "r1", AS_OF, [])
    wb = openpyxl.load_workbook(path)
    for ws in wb:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
    crisis, wobbling = wb["Crisis"], wb["Wobbling"]
    header = [c.value for c in crisis[1]]
    cell = crisis.cell(row=2, column=header.index("reasons") + 1)
    assert cell.value == text and cell.data_type == "s" and cell.quotePrefix
    cell = wobbling.cell(row=2, column=header.index("agencies") + 1)
    assert cell.value == text and cell.data_type == "s" and cell.quotePrefix


def test_workbook_sheet_per_tier_by_household_with_frozen_header_and_widths(tmp_path):
    import openpyxl

    from stratify.publish.workbook import write_workbook

    t = _team([(1, "crisis", 1.0, 5, 1), (2, "wobbling", 0.2, 0, 1), (3, "wobbling", 0.9, 0, None)])
    wb = openpyxl.load_workbook(write_workbook(tmp_path / "NT01.xlsx", t, "test", "r1", AS_OF, []))
    assert wb.sheetnames[:2] == ["Crisis", "Wobbling"]
    at = [c.value for c in wb["Crisis"][1]].index("person_id")
    ids = {name: [r[at] for r in wb[name].iter_rows(min_row=2, values_only=True)] for name in ("Crisis", "Wobbling")}
    assert ids["Crisis"] == [pid(1), pid(2)]  # the wobbling member stays with the household
    assert ids["Wobbling"] == [pid(3)]
    assert ids["Crisis"] + ids["Wobbling"] == list(t.listed["person_id"])
    for ws in wb:
        assert ws.freeze_panes == "A2"
        assert ws["A1"].font.bold
        assert all(d.width and d.width >= 6 for d in ws.column_dimensions.values())
    crisis = wb["Crisis"]
    header = [c.value for c in crisis[1]]
    assert crisis.cell(row=2, column=header.index("person_id") + 1).value == pid(1)  # narrow column, whole pseudonym
    score = crisis.cell(row=2, column=header.index("score") + 1)
    assert isinstance(score.value, (int, float)) and score.number_format == "0.0000"  # a number


# --------------------------------------------------------------------------- the whole night, twice (slow)

HEX64 = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")


def _read_lists(out) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_csv(p, dtype=str, keep_default_na=False) for p in sorted((out / "latest" / "lists").glob("*.csv"))}


def _oracle_change(prev: pd.DataFrame, cur: pd.DataFrame) -> list[str]:
    was = {r.person_id: (r.tier, int(r.rank)) for r in prev.itertuples()}
    out = []
    for r in cur.itertuples():
        if r.person_id not in was:
            out.append("new")
        elif was[r.person_id][0] != r.tier:
            out.append("up" if r.tier == "crisis" else "down")
        else:
            out.append({-1: "up", 0: "same", 1: "down"}[int(np.sign(int(r.rank) - was[r.person_id][1]))])
    return out


@pytest.fixture(scope="module")
def two_nights(tmp_path_factory):
    """A 2,000-person place run on day 1, then on day 2 after new police, outcome and register deliveries."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from stratify.config import load_config
    from stratify.run.pipeline import run_pipeline
    from stratify.synth.generate import synthesize

    folder = tmp_path_factory.mktemp("lists_place")
    (folder / "place.yaml").write_text(
        "place: lists\nlanding: landing\nwarehouse: w.duckdb\nout: out\nneighbourhoods: neighbourhoods.csv\n"
        "capacity:\n  default: 30\n", encoding="utf-8")
    cfg = load_config(folder / "place.yaml")
    day1, day2 = date(2026, 11, 20), date(2026, 11, 21)
    synthesize(cfg, people=2000, as_of=day1, seed=5)
    with no_settle_pause():  # nothing is being written during these nights
        first = run_pipeline(cfg, day1)
    assert first["status"] == "published", first
    lists1 = _read_lists(cfg.out)
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        persons = con.execute("SELECT person_id, team, died FROM persons").df()
        with_outcomes = {r[0] for r in con.execute("SELECT DISTINCT person_id FROM raw_outcomes").fetchall()}
        register = con.execute("SELECT * EXCLUDE (delivery_id, delivered_on, superseded_on, superseded_by) FROM raw_register "
                               "WHERE superseded_on IS NULL").df()
    finally:
        con.close()
    team = max(lists1, key=lambda t: (lists1[t]["tier"] == "wobbling").sum())
    lst = lists1[team]
    households = set()
    picks = []
    for r in lst[lst["tier"] == "wobbling"].iloc[::-1].itertuples():  # lowest-ranked first: their households are alone
        if r.person_id in with_outcomes or (r.household_id and r.household_id in households):
            continue
        households.add(r.household_id)
        picks.append(r.person_id)
    assert len(picks) >= 4, f"team {team} has too few wobbling people to test with"
    # the two whose outcomes move them to a section stay tiered tomorrow (the section holds tiered people only):
    # the highest-scored picks, not the ones at the threshold, whose score may fall below it by tomorrow
    rises, dies, engages, declines = picks[0], picks[1], picks[-2], picks[-1]
    listed_anywhere = set(pd.concat(lists1.values())["person_id"])
    unlisted = persons[(persons["team"] == team) & ~persons["died"] & ~persons["person_id"].isin(listed_anywhere)
                       & ~persons["person_id"].isin(with_outcomes)]["person_id"].sort_values()
    newcomer = unlisted.iloc[0]
    quiet = list(unlisted.iloc[1:4])  # one police contact each: not enough to list anyone

    stamp = f"{day2:%Y%m%d}"
    police = [(f"POL-D2-{i:04d}", p, day2, "arrest", None, False, "suspect")
              for i, p in enumerate([rises] * 8 + [newcomer] * 8 + quiet)]
    pq.write_table(pa.table({
        "record_id": [r[0] for r in police], "person_id": [r[1] for r in police],
        "event_date": pa.array([r[2] for r in police], pa.date32()), "event_type": [r[3] for r in police],
        "end_date": pa.array([r[4] for r in police], pa.date32()), "deleted": [r[5] for r in police],
        "role": [r[6] for r in police],
    }), cfg.landing / "police" / f"police_{stamp}.parquet")
    pq.write_table(pa.table({
        "record_id": ["NTO-D2-1", "NTO-D2-2"], "person_id": [declines, engages], "team": [team, team],
        "event_date": pa.array([day2, day2], pa.date32()), "outcome": ["declined", "engaged"],
    }), cfg.landing / "outcomes" / f"outcomes_{stamp}.parquet")
    row = register[register["person_id"] == dies].iloc[0].to_dict()
    row["date_of_death"] = day2
    reg = pa.Table.from_pylist([{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}])
    reg = reg.set_column(reg.schema.get_field_index("date_of_death"), "date_of_death",
                         pa.array([day2], pa.date32()))
    pq.write_table(reg, cfg.landing / "register" / f"register_{stamp}.parquet")

    with no_settle_pause():
        second = run_pipeline(cfg, day2)
    assert second["status"] == "published", second
    return {"cfg": cfg, "team": team, "lists1": lists1, "lists2": _read_lists(cfg.out), "persons": persons,
            "rises": rises, "declines": declines, "engages": engages, "dies": dies, "newcomer": newcomer}


@pytest.mark.slow
def test_second_night_change_labels(two_nights):
    n = two_nights
    l1, l2, team = n["lists1"], n["lists2"], n["team"]
    assert set(l2) == set(l1)
    for t in l2:
        assert list(l2[t]["change"]) == _oracle_change(l1[t], l2[t]), t
    mine = l2[team].set_index("person_id")
    assert mine.loc[n["newcomer"], "change"] == "new" and mine.loc[n["newcomer"], "tier"] == "crisis"
    assert mine.loc[n["rises"], "change"] == "up" and mine.loc[n["rises"], "tier"] == "crisis"
    assert "down" in set(mine["change"])  # pushed down by the two who rose into crisis above them
    assert "same" in set(pd.concat(l2.values())["change"])


@pytest.mark.slow
def test_second_night_outcomes_and_death_take_people_off_with_reasons(two_nights):
    n = two_nights
    folder = n["cfg"].out / "latest" / "teams" / n["team"]
    listed = set(n["lists2"][n["team"]]["person_id"])
    for p in (n["declines"], n["engages"], n["dies"]):
        assert p not in listed
    snoozed = pd.read_csv(folder / "snoozed.csv", dtype=str)
    assert n["declines"] in set(snoozed["person_id"])
    working = pd.read_csv(folder / "already_working.csv", dtype=str)
    assert n["engages"] in set(working["person_id"])
    dropped = pd.read_csv(folder / "dropped.csv", dtype=str).set_index("person_id")
    assert dropped.loc[n["declines"], "reason"] == "outcome recorded"
    assert dropped.loc[n["engages"], "reason"] == "outcome recorded"
    assert dropped.loc[n["dies"], "reason"] == "died"
    gone = set(n["lists1"][n["team"]]["person_id"]) - listed
    assert set(dropped.index) == gone
    assert set(dropped["reason"]) <= {"died", "left the register", "moved team", "wrong person", "moved away",
                                      "outcome recorded", "score fell", "below capacity"}


@pytest.mark.slow
def test_every_team_has_its_files_and_only_its_own_people(two_nights):
    import openpyxl

    n = two_nights
    cfg, persons = n["cfg"], n["persons"]
    root = cfg.out / "latest"
    team_of = dict(zip(persons["person_id"], persons["team"]))
    assert (root / "overview.html").is_file()
    assert not HEX64.search((root / "overview.html").read_text(encoding="utf-8"))
    for team in n["lists2"]:
        folder = root / "teams" / team
        for name in (f"{team}.csv", f"{team}.xlsx", "report.html", "dropped.csv", "already_working.csv", "snoozed.csv"):
            assert (folder / name).is_file(), (team, name)
        assert (folder / f"{team}.csv").read_bytes() == (root / "lists" / f"{team}.csv").read_bytes()
        moved_away = set(pd.read_csv(folder / "dropped.csv", dtype=str).query("reason == 'moved team'")["person_id"])
        texts = [p.read_text(encoding="utf-8") for p in folder.glob("*.csv")] + [(folder / "report.html").read_text(encoding="utf-8")]
        wb = openpyxl.load_workbook(folder / f"{team}.xlsx")
        texts += [str(c.value) for ws in wb for row in ws.iter_rows() for c in row if c.value is not None]
        seen = {h for text in texts for h in HEX64.findall(text)}
        others = {h for h in seen if h in team_of and team_of[h] != team} - moved_away
        assert not others, f"team {team}'s files hold {len(others)} pseudonyms of other teams' people"
        assert n["lists2"][team]["person_id"].isin(list(seen)).all()


# --------------------------------------------------------------------------- the lists table


def test_the_lists_table_gives_publish_back_exactly_what_rank_built(tmp_path):
    from stratify.lists.table import load_lists, save_lists
    from stratify.publish.stage import write_list
    from stratify.publish.team_page import SECTION_COLUMNS, write_csv
    from stratify.run.context import RunContext

    cfg = write_place(tmp_path)
    c = cand([(1, "crisis", 1.0, 3_000_000, 7), (2, "wobbling", 0.9, 0, 7), (3, "wobbling", 0.8, 0, None),
              (4, "crisis", 1.0, 1_000_000, None), (5, "wobbling", 0.7, 0, None), (6, "wobbling", 0.6, 0, None)])
    # as DuckDB hands a count over (nullable), one of them unknown
    c["household_members"] = pd.array([2, 2, 1, 1, None, 1], dtype="Int32")
    outcomes = pd.DataFrame([outcome(4, "engaged", 5, last="engaged"), outcome(5, "declined", 5, last="declined"),
                             outcome(3, "contacted", 400, last="contacted")])
    outcomes.loc[2, "status_outcome"] = None
    previous = pd.DataFrame({"rank": ["1", "2", "3"], "person_id": [pid(1), pid(9), pid(5)],
                             "household_id": ["", "", ""], "tier": ["crisis", "wobbling", "wobbling"],
                             "score": ["1.0000", "0.5000", "0.7000"]})
    status = pd.DataFrame([{"person_id": pid(9), "team": "NT01", "died": True, "tier": "", "score": None},
                           {"person_id": pid(5), "team": "NT01", "died": False, "tier": "wobbling", "score": 0.7}])
    built = {"NT01": build_team_lists("NT01", 3, c, outcomes, no_history(), previous, status, RULES, AS_OF),
             "NT02": build_team_lists("NT02", 5, cand([]), no_outcomes(), no_history(), None, pd.DataFrame(), RULES,
                                      AS_OF)}
    t = built["NT01"]
    assert len(t.listed) and len(t.already_working) and len(t.snoozed) and len(t.dropped)  # every section is tried
    ctx = RunContext("20261120T010000000000Z", cfg.place, AS_OF)
    save_lists(cfg, ctx, built)
    loaded = load_lists(cfg, ctx)
    assert list(loaded) == list(cfg.teams)
    for team, want in built.items():
        got = loaded[team]
        assert (got.team, got.capacity, got.previous_published, got.counts) == \
               (want.team, want.capacity, want.previous_published, want.counts)
        for name in ("a", "b"):
            write_list(tmp_path / name / f"{team}.csv", (want if name == "a" else got).listed)
        assert (tmp_path / "a" / f"{team}.csv").read_bytes() == (tmp_path / "b" / f"{team}.csv").read_bytes()
        for section, columns in SECTION_COLUMNS.items():
            a = write_csv(tmp_path / f"a-{team}-{section}.csv", getattr(want, section), columns)
            b = write_csv(tmp_path / f"b-{team}-{section}.csv", getattr(got, section), columns)
            assert a.read_bytes() == b.read_bytes(), (team, section)
        for frame in ("listed", "already_working", "snoozed"):
            cols = ["person_id", "household_id", "household_rank", "household_tier", "household_members", "note",
                    "last_outcome", "last_outcome_date", "outcome", "outcome_date", "until", "severity"]
            w, g = getattr(want, frame), getattr(got, frame)
            cols = [x for x in cols if x in g.columns]
            assert w[cols].astype(object).fillna("").values.tolist() == g[cols].astype(object).fillna("").values.tolist()
        # the crisis rules met travel with the rows: publish words them ("meets 3 of 4 crisis rules")
        assert "severity" in got.listed.columns
        assert got.listed["severity"].tolist() == pytest.approx(want.listed["severity"].tolist(), nan_ok=True)
        assert want.dropped.to_dict("records") == got.dropped.to_dict("records") or \
               want.dropped.fillna(-1).to_dict("records") == got.dropped.fillna(-1).to_dict("records")
