"""A team's list in the app: each person's timeline, drawn from the published run as the team page draws it; filters."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from app_place import AS_OF, WEEKS, Clock, add_users, client, log_in, make_published_place

from helpers import pid
from stratify.app import pages
from stratify.config import load_config
from stratify.publish import team_page

SVG = re.compile(r'<svg class="timeline".*?</svg>', re.S)


@pytest.fixture(scope="module")
def template_place(tmp_path_factory):
    root = tmp_path_factory.mktemp("app_lists")
    add_users(make_published_place(root))
    return root


@pytest.fixture
def place(template_place, tmp_path):
    shutil.copytree(template_place, tmp_path / "place", symlinks=True)
    cfg = load_config(tmp_path / "place" / "place.yaml")
    c = client(cfg, Clock())
    return cfg, c


def drawn_by_the_team_page(weeks: team_page.Weeks, as_of=AS_OF) -> str:
    """The SVG the exported report.html draws for these weeks (the team page's own macro)."""
    macro = team_page._environment().get_template("_timeline.html.j2").module.timeline
    return str(macro(team_page.timeline(weeks, as_of))).strip()


def test_the_list_and_the_person_page_draw_each_persons_published_timeline_as_the_team_page_does(place):
    _, c = place
    log_in(c, "ann")
    listed = c.get("/teams/NT01").text
    drawn = SVG.findall(listed)
    assert len(drawn) == 3  # everyone listed, each once
    assert drawn_by_the_team_page(WEEKS[pid(1)]) in listed
    assert "Contacts by agency, last 12 months: Health 1, Social care 0, Housing 0, Police 3" in listed
    assert "Contacts by agency, last 12 months: Health 0, Social care 0, Housing 2, Police 0" in listed
    assert listed.count('<rect class="mark"') == 3  # person 1's two weeks, person 2's one; person 3 has none
    assert "Timeline, November 2025 to 20 November 2026" in listed
    person = c.get(f"/teams/NT01/people/{pid(1)}").text
    assert SVG.findall(person) == [drawn_by_the_team_page(WEEKS[pid(1)])]
    assert "Police: 3 contacts in the week to 2026-11-13" in person


def test_a_run_published_without_timelines_says_so_and_draws_none(place):
    _, c = place
    log_in(c, "nia")
    listed = c.get("/teams/NT02").text
    assert "published without timelines" in listed and not SVG.search(listed)
    assert c.get(f"/teams/NT02/people/{pid(11)}").status_code == 200


def test_timelines_changed_after_publication_are_refused(place):
    cfg, c = place
    log_in(c, "ann")
    path = cfg.out / "latest" / "teams" / "NT01" / "timelines.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["people"][pid(1)]["events"] = [9, 9]
    path.write_text(json.dumps(doc), encoding="utf-8")
    r = c.get("/teams/NT01")
    assert r.status_code == 503 and "not the file that was published" in r.text and "Police 9" not in r.text


def test_publish_writes_each_teams_timelines_and_the_app_draws_what_report_html_draws(tmp_path):
    from test_team_report import AS_OF as REPORT_AS_OF
    from test_team_report import sample_folder

    s = sample_folder(tmp_path)
    for team in ("NT01", "NT02"):
        t = s["teams"][team]
        published = s["root"] / "teams" / team / team_page.TIMELINES_FILE
        assert f"teams/{team}/timelines.json" in {w["path"] for w in s["written"][team]}  # recorded with the run's files
        weeks = team_page.read_timelines(published.read_bytes())
        shown = {p for f in (t.listed, t.already_working, t.snoozed) for p in f["person_id"]}
        assert set(weeks) == shown  # the team's shown people, nobody else
        report = (s["root"] / "teams" / team / "report.html").read_text(encoding="utf-8")
        for person, w in weeks.items():
            assert drawn_by_the_team_page(w, REPORT_AS_OF) in report, person
    weeks = team_page.read_timelines((s["root"] / "teams" / "NT01" / "timelines.json").read_bytes())
    assert weeks[pid(100)] == team_page.Weeks(["health", "police", "police", "housing"], [0, 3, 52, 60], [1, 4, 2, 9])
    app_drawn = pages.people(s["teams"]["NT01"].listed.head(1).astype(str), REPORT_AS_OF, {pid(100): "x"}, 4, weeks)
    assert app_drawn[0]["timeline"]["title"].endswith("Health 1, Social care 0, Housing 0, Police 6")


def _shown(html: str) -> list[str]:
    """The people of the ranked table, by the full pseudonyms their rows link to (the short refs resolve to them)."""
    ranked = html.split('<table class="ranked">', 1)[1].split("</table>", 1)[0] if '<table class="ranked">' in html else ""
    return re.findall(r'href="/teams/NT01/people/([0-9a-f]+)"', ranked)


def test_the_list_filters_by_tier_change_agency_and_priority_on_the_server(place):
    _, c = place
    log_in(c, "ann")
    everyone = c.get("/teams/NT01").text
    refs = _shown(everyone)
    assert len(refs) == 3
    one, two, three = refs  # persons 1, 2 and 3, in rank order
    for query, expect in (("tier=crisis", [one, three]), ("tier=wobbling", [two]), ("change=new", refs),
                          ("change=up", []), ("agency=police", refs), ("agency=housing", []),
                          ("priority=homelessness", [one, two]), ("priority=frail_elderly", [two]),
                          ("priority=frail_elderly&tier=crisis", []), ("tier=crisis&agency=health", [one, three]),
                          ("priority=&tier=", refs)):
        page = c.get(f"/teams/NT01?{query}")
        assert page.status_code == 200, query
        assert _shown(page.text) == expect, query
        assert f"{len(expect)} of 3 people" in page.text or (not expect and "Nobody on the list matches" in page.text)
    form = c.get("/teams/NT01?priority=frail_elderly").text  # the form keeps what was chosen, labelled by name
    assert '<option value="frail_elderly" selected>Frail elderly</option>' in form
    assert '<select id="f-priority" name="priority">' in form and "Priorities: homelessness, frail_elderly" in form
    for bad in ("priority=nonsense", "tier=<b>", "agency=Police", "change=NEW"):
        r = c.get(f"/teams/NT01?{bad}")
        assert r.status_code == 400 and "<b>" not in r.text, bad
    assert "Unknown filter" in c.get("/teams/NT01?priority=x").text and "homelessness" in c.get("/teams/NT01?priority=x").text


def test_a_place_without_priorities_has_no_priority_filter(tmp_path):
    from helpers import write_place

    cfg = write_place(tmp_path)
    from stratify.app.teamlist import FilterRefused, chosen_filters, filter_choices

    assert "priority" not in filter_choices(cfg)
    with pytest.raises(FilterRefused):
        chosen_filters(cfg, {"tier": "crises"})
    assert chosen_filters(cfg, {"priority": "homelessness", "tier": "crisis"}) == {"tier": "crisis", "change": "",
                                                                                  "agency": ""}


def test_crisis_rows_say_why_they_are_ranked_not_a_score_of_one(place):
    """Everyone in crisis scores 1: the list says the crisis rules were met; a wobbling row keeps its score."""
    _, c = place
    log_in(c, "ann")
    ranked = c.get("/teams/NT01").text.split("<tbody", 1)[1]
    assert "1.00" not in ranked and "crisis rules met" in ranked
    assert "0.40" in ranked  # person 2, wobbling
    assert "tier, why ranked, change" in c.get("/teams/NT01").text
