"""The place's priorities: configuration checks and cohorts on tiny hand-made warehouses."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from stratify.config import ConfigError
from stratify.costs.compute import compute_costs
from stratify.link import link_persons
from stratify.priorities.settings import NOT_EXPRESSIBLE
from stratify.run.context import RunContext
from stratify.warehouse.database import connect
from tests.helpers import add_person, write_place

AS_OF = date(2026, 11, 20)

EXAMPLES = """priorities:
  - id: homelessness
    name: Homelessness
    cohort:
      domains: {names: [homelessness], window_days: 365}
  - id: care_leavers
    name: Transition to adulthood for care leavers
    cohort:
      age: {min: 16, max: 25}
      events: [{types: [care_leaver, looked_after_start, looked_after_end]}]
  - id: frail_elderly
    name: Frail elderly
    cohort:
      age: {min: 75}
      events: [{types: [emergency_admission, adult_care_package_start, adult_assessment], window_days: 365}]
  - id: families
    name: Families where a parent is struggling
    cohort:
      household: {with_children: true, others_with_domains: 1}
  - id: frequent_ae
    name: Frequent A&E, women
    cohort:
      sex: [F]
      events: {types: [health.ae_attendance], window_days: 90, min_count: 3}
"""


def event(con, person: str, source: str, event_type: str, on: date, end: date | None = None,
          role: str | None = None, n: list[int] = [0]) -> None:  # noqa: B006 (a counter for record ids)
    n[0] += 1
    con.execute("INSERT INTO raw_events (source, record_id, person_id, event_date, event_type, end_date, role, "
                "delivery_id, delivered_on) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8)",
                [source, f"r{n[0]}", person, on, event_type, end, role, date(2026, 11, 1)])


def _members(cfg) -> dict[str, set[str]]:
    with connect(cfg) as con:
        rows = con.execute("SELECT priority_id, person_id FROM person_priorities").fetchall()
    out: dict[str, set[str]] = {}
    for priority, person in rows:
        out.setdefault(priority, set()).add(person)
    return out


def test_the_examples_are_expressible_and_their_cohorts_are_right(tmp_path):
    cfg = write_place(tmp_path, extra=EXAMPLES)
    assert [p.id for p in cfg.priorities] == ["homelessness", "care_leavers", "frail_elderly", "families",
                                             "frequent_ae"]
    ago = lambda d: AS_OF - timedelta(days=d)  # noqa: E731
    with connect(cfg) as con:
        homeless = add_person(con, 1, born="1996-03")
        event(con, homeless, "housing", "homeless_approach", ago(100))
        long_ago = add_person(con, 2, born="1996-03")
        event(con, long_ago, "housing", "homeless_approach", ago(400))
        leaver = add_person(con, 3, born="2006-01")
        event(con, leaver, "social_care", "care_leaver", ago(1000))
        too_old = add_person(con, 4, born="1990-01")
        event(con, too_old, "social_care", "care_leaver", ago(1000))
        frail = add_person(con, 5, born="1946-01")
        event(con, frail, "health", "emergency_admission", ago(30))
        add_person(con, 6, born="1946-01")  # old, no events
        dead = add_person(con, 7, born="1946-01", died=ago(5))
        event(con, dead, "health", "emergency_admission", ago(30))
        parent = add_person(con, 8, born="1990-05", household=1)
        event(con, parent, "housing", "rough_sleeping", ago(20))
        child = add_person(con, 9, born="2019-05", household=1)
        ae = add_person(con, 10, born="1980-01")
        for d in (5, 30, 60):
            event(con, ae, "health", "ae_attendance", ago(d))
        two_ae = add_person(con, 11, born="1980-01")
        for d in (5, 30, 120):
            event(con, two_ae, "health", "ae_attendance", ago(d))
    link_persons(cfg, RunContext.new(cfg, AS_OF))
    with connect(cfg) as con:
        compute_costs(con, cfg, AS_OF)
    members = _members(cfg)
    assert members["homelessness"] == {homeless, parent}
    assert members["care_leavers"] == {leaver}
    assert members["frail_elderly"] == {frail}
    assert members["families"] == {child}  # the parent's others (the child) have no domain
    assert members["frequent_ae"] == {ae}  # add_person registers everyone as F; two_ae has 2 in 90 days


def test_a_priority_can_include_the_dead_and_filter_by_team(tmp_path):
    cfg = write_place(tmp_path, extra="""priorities:
  - id: nt02_elderly
    name: Older people of NT02, whether living or not
    cohort:
      age: {min: 75}
      teams: [NT02]
      include_died: true
""")
    with connect(cfg) as con:
        a = add_person(con, 1, born="1940-01", lsoa="E01000002", died=date(2026, 1, 1))
        add_person(con, 2, born="1940-01", lsoa="E01000001")
        add_person(con, 3, born="1990-01", lsoa="E01000002")
    link_persons(cfg, RunContext.new(cfg, AS_OF))
    with connect(cfg) as con:
        compute_costs(con, cfg, AS_OF)
    assert _members(cfg) == {"nt02_elderly": {a}}


@pytest.mark.parametrize("cohort, expected", [
    ("events: [{types: [hospital_visit]}]", "priorities[0].cohort.events[0].types: Value error, 'hospital_visit' is not a contract event type"),
    ("age: {min: 30, max: 20}", "priorities[0].cohort.age: Value error, min is above max"),
    ("colour: red", "priorities[0].cohort.colour: Extra inputs are not permitted"),
    ("include_died: true", "a cohort needs at least one criterion"),
    ("domains: {names: [loneliness]}", "priorities[0].cohort.domains.names: 'loneliness' is not a configured domain"),
    ("household: {}", "give at least one of min_members"),
])
def test_bad_priorities_are_refused_naming_the_key(tmp_path, cohort, expected):
    with pytest.raises(ConfigError) as err:
        write_place(tmp_path, extra=f"priorities:\n  - id: p1\n    name: P\n    cohort:\n      {cohort}\n")
    assert expected in str(err.value), str(err.value)


def test_priority_ids_unique_and_plain(tmp_path):
    with pytest.raises(ConfigError) as err:
        write_place(tmp_path, extra="priorities:\n"
                    "  - {id: a, name: A, cohort: {age: {min: 1}}}\n"
                    "  - {id: a, name: B, cohort: {age: {min: 2}}}\n"
                    "  - {id: 'Bad Id', name: C, cohort: {age: {min: 2}}}\n")
    assert "priorities: ids must be unique" in str(err.value)
    assert "priorities[2].id: String should match pattern" in str(err.value)


def test_lists_priorities_only_and_handoffs_are_configuration_keys(tmp_path):
    cfg = write_place(tmp_path, extra="lists:\n  priorities_only: true\nhandoffs: [adult_contact, housing.homeless_approach]\n")
    assert cfg.lists.priorities_only is True
    assert [h.key for h in cfg.handoffs] == ["social_care.adult_contact", "housing.homeless_approach"]
    with pytest.raises(ConfigError, match=r"handoffs\[0\]: 'gp_visit' is not a contract event type"):
        write_place(tmp_path, extra="handoffs: [gp_visit]\n")


def test_school_readiness_is_said_to_need_an_education_source():
    assert "education source" in NOT_EXPRESSIBLE["school_readiness"]
    assert "contract v1 does not have" in NOT_EXPRESSIBLE["school_readiness"]


def test_list_columns_for_listed_people(tmp_path):
    from stratify.costs.list_columns import handoff_reason, list_columns, people_in_priorities

    cfg = write_place(tmp_path, extra=EXAMPLES)
    with connect(cfg) as con:
        both = add_person(con, 1, born="1940-01", household=1)
        event(con, both, "housing", "homeless_approach", AS_OF - timedelta(days=3))
        event(con, both, "health", "emergency_admission", AS_OF - timedelta(days=3))
        other = add_person(con, 2, born="1990-01", household=1)
        event(con, other, "health", "ae_attendance", AS_OF - timedelta(days=3))
        nobody = add_person(con, 3, born="1990-01")
    link_persons(cfg, RunContext.new(cfg, AS_OF))
    with connect(cfg) as con:
        compute_costs(con, cfg, AS_OF)
        cols = list_columns(con, cfg, [both, other, nobody]).set_index("person_id")
        assert people_in_priorities(con) == {both}
    assert cols.loc[both, "priorities"] == "homelessness; frail_elderly"  # in the configuration's order
    assert cols.loc[both, "cost_12m_gbp"] == 408.48 + 1590.17 and cols.loc[both, "assessments_12m"] == 1
    assert cols.loc[other, "household_cost_12m_gbp"] == round(408.48 + 1590.17 + 116.64, 2)
    assert cols.loc[nobody, "priorities"] == "" and cols.loc[nobody, "cost_12m_gbp"] == 0
    assert handoff_reason(4) is None and "5 assessments" in handoff_reason(5)
