"""The place's baseline page: renders, aggregates only, small numbers suppressed, prices and source shown."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest

from stratify.baseline.figures import concentration
from stratify.baseline.page import write_baseline
from stratify.config import SuppressionConfig
from stratify.link import link_persons
from stratify.run.context import RunContext
from stratify.warehouse.database import connect
from tests.helpers import add_person, write_place

AS_OF = date(2026, 11, 20)
HEX64 = re.compile(r"[0-9a-f]{64}")
PRIORITIES = """priorities:
  - id: homelessness
    name: Homelessness
    cohort:
      domains: {names: [homelessness]}
  - id: frail_elderly
    name: Frail elderly
    cohort:
      age: {min: 75}
"""


def _event(con, person: str, source: str, event_type: str, on: date, n: list[int] = [0]) -> None:  # noqa: B006
    n[0] += 1
    con.execute("INSERT INTO raw_events (source, record_id, person_id, event_date, event_type, delivery_id, "
                "delivered_on) VALUES ($1, $2, $3, $4, $5, 1, $6)",
                [source, f"b{n[0]}", person, on, event_type, date(2026, 11, 1)])


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """43 people: 3 homeless (a small group), 12 older people, the rest with an A&E attendance or nothing."""
    folder = tmp_path_factory.mktemp("baseline")
    cfg = write_place(folder, extra=PRIORITIES)
    ago = lambda d: AS_OF - timedelta(days=d)  # noqa: E731
    people = []
    with connect(cfg) as con:
        for i in range(43):
            born = "1940-01" if i < 12 else "1990-01"
            p = add_person(con, i, born=born, lsoa="E01000001" if i % 2 else "E01000002", household=i // 2)
            people.append(p)
            if i < 3:
                _event(con, p, "housing", "homeless_approach", ago(30))
                _event(con, p, "police", "arrest", ago(40))
            if i % 3 == 0:
                _event(con, p, "health", "ae_attendance", ago(10 + i))
                _event(con, p, "health", "ae_attendance", ago(400 + i))  # the year before
    link_persons(cfg, RunContext.new(cfg, AS_OF))
    paths = write_baseline(cfg, AS_OF, folder / "baseline_out")
    return {"cfg": cfg, "people": people, "html": paths[0].read_text(encoding="utf-8"),
            "data": json.loads(paths[1].read_text(encoding="utf-8")), "raw_json": paths[1].read_text(encoding="utf-8")}


def test_the_page_renders_self_contained_with_its_prices_and_source(baseline):
    html = baseline["html"]
    assert html.startswith("<!DOCTYPE html>") and "</html>" in html
    assert "<svg" in html and "<script" not in html and "<link" not in html and "src=" not in html
    assert "2015/16 prices" in html and "GMCA Research Team, Unit Cost Database v1.4" in html
    assert "not an invoice" in html and html.count("GMCA Research Team") >= 2  # the head and the footer
    for section in ("People by neighbourhood team", "How many agencies know each person", "Where the cost sits",
                    "Cost by agency", "Cost by event type", "Not costed", "Handoffs", "The place's priorities",
                    "The last three years", "School readiness"):
        assert section in html, section
    assert "@media print" in html


def test_no_pseudonym_anywhere(baseline):
    assert not HEX64.search(baseline["html"]) and not HEX64.search(baseline["raw_json"])


def test_small_numbers_are_suppressed(baseline):
    data = baseline["data"]
    now = data["years"][0]
    assert now["people"] == "45"  # 43, rounded to the nearest 5
    homeless = next(p for p in now["priorities"]["rows"] if p["id"] == "homelessness")
    assert homeless["people"] == "<10" and homeless["cost_12m_gbp"] is None and homeless["share_of_cost"] is None
    frail = next(p for p in now["priorities"]["rows"] if p["id"] == "frail_elderly")
    assert frail["people"] == "10" and frail["cost_12m_gbp"] is not None  # 12 people, shown as 10
    assert now["known_to_agencies_12m"]["2"] == "<10"  # the three homeless people: housing and police
    arrests = next(r for r in now["cost_by_event_type"] if r["event_type"] == "arrest")
    assert arrests["events_12m"] == "<10" and arrests["cost_12m_gbp"] is None
    assert "suppressed" in baseline["html"] and "&lt;10" in baseline["html"]
    assert data["suppression"] == {"min_count": 10, "round_to": 5}
    assert not [v for v in _strings(data["years"]) if re.fullmatch(r"[1-9]", v)], "a small count slipped through"


def _strings(node):
    """Every string value (not key) of a JSON tree: counts are strings once suppressed."""
    if isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


def test_three_years_and_what_is_not_costed(baseline):
    years = baseline["data"]["years"]
    assert [y["as_of"] for y in years] == ["2026-11-20", "2025-11-20", "2024-11-20"]
    ae = 116.64  # the default table's A&E attendance
    assert years[0]["cost_12m_gbp"] == round(15 * ae + 3 * (408.48 + 718.50))
    assert years[1]["cost_12m_gbp"] == round(15 * ae)  # the attendances of the year before
    not_costed = {r["event_type"] for r in years[0]["not_costed"]}
    assert {"custody", "rent_arrears", "temporary_accommodation_end"} <= not_costed
    assert baseline["data"]["price_year"] == "2015/16"


def test_concentration_shares_and_curve():
    sup = SuppressionConfig()
    costs = __import__("numpy").array([100.0] + [0.0] * 99)
    c = concentration(costs, sup)
    assert c["top_1pct_share"] is None  # one person: too few to show
    assert c["top_10pct_share"] == 1.0 and c["curve"][-1] == [1.0, 1.0]
    even = concentration(__import__("numpy").ones(1000), sup)
    assert even["top_1pct_share"] == 0.01 and even["top_5pct_share"] == 0.05
