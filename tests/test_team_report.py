"""Each team's folder and the place overview: self-contained pages, isolation, suppression, modes."""

from __future__ import annotations

import re
import stat
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from helpers import pid, write_place
from stratify.config import ListsConfig
from stratify.lists.team import build_team_lists
from stratify.publish.overview import write_overview
from stratify.publish.team_page import TL_LABEL_W, TL_WEEK_W, TL_WEEKS, Weeks, timeline, write_team_folder
from stratify.publish.validation_page import SourceFreshness

AS_OF = date(2026, 11, 20)
HEX64 = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
EVIL = "<script>alert(1)</script> & \"quoted\""
POPULATION = {"NT01": 1234, "NT02": 8}


def _candidates(first: int, rows: list[tuple]) -> pd.DataFrame:
    """(offset, tier, score, severity, household offset or None) -> candidates numbered from `first`."""
    return pd.DataFrame([{
        "person_id": pid(first + n), "tier": t, "score": s, "severity": sev,
        "household_id": pid(50_000 + first + hh) if hh is not None else None,
        "reasons": f"{EVIL}; {n + 3} A&E attendances in 90 days", "agencies": "health; police", "household_members": 3,
    } for n, t, s, sev, hh in rows])


def _freshness() -> list[SourceFreshness]:
    return [SourceFreshness("register", AS_OF, False, None, "delivered tonight"),
            SourceFreshness("police", AS_OF - timedelta(days=12), True, AS_OF - timedelta(days=12),
                            "last accepted delivery is 12 days old (limit 7)")]


def _outcomes(first: int) -> pd.DataFrame:
    when = pd.Timestamp(AS_OF - timedelta(days=5))
    return pd.DataFrame([
        {"person_id": pid(first + 4), "status_outcome": "engaged", "status_date": when, "last_outcome": "engaged", "last_date": when},
        {"person_id": pid(first + 5), "status_outcome": "declined", "status_date": when, "last_outcome": "declined", "last_date": when},
    ])


def sample_folder(tmp: Path) -> dict:
    """Two teams' folders and the overview, written from hand-made lists; returns paths and people."""
    cfg = write_place(tmp)
    rows = [(0, "crisis", 1.0, 2_000_010, 1), (1, "wobbling", 0.4, 0, 1), (2, "crisis", 1.0, 1_000_005, None),
            (3, "wobbling", 0.7, 0, None), (4, "crisis", 1.0, 1_000_001, 1), (5, "wobbling", 0.3, 0, None)]
    history = pd.DataFrame(columns=["person_id", "as_of", "published_at", "tier"])
    teams, people = {}, {}
    root = tmp / "stage"
    root.mkdir()
    for team, first in (("NT01", 100), ("NT02", 200)):
        c = _candidates(first, rows)
        previous = pd.DataFrame({"rank": ["1", "2"], "person_id": [pid(first + 3), pid(first + 9)],
                                 "household_id": ["", ""], "tier": ["wobbling", "wobbling"], "score": ["0.6", "0.5"]})
        status = pd.DataFrame([{"person_id": pid(first + 9), "team": team, "died": True, "tier": "", "score": None}])
        teams[team] = build_team_lists(team, 5, c, _outcomes(first), history, previous, status, ListsConfig(), AS_OF)
        people[team] = {pid(first + n) for n in range(10)}
    timelines = {pid(100): pd.DataFrame({"source": ["health", "police", "police", "housing"], "week_ago": [0, 3, 52, 60],
                                         "events": [1, 4, 2, 9]})}
    written = {}
    for team, t in teams.items():
        csv_path = root / "lists" / f"{team}.csv"
        csv_path.parent.mkdir(exist_ok=True)
        t.listed.to_csv(csv_path, index=False)
        written[team] = write_team_folder(cfg, "r1", AS_OF, root, t, csv_path, _freshness(), timelines)
    trends = pd.DataFrame({
        "run_id": ["r0", "r0", "r0", "r0"], "as_of": [AS_OF - timedelta(days=1)] * 4,
        "published_at": [pd.Timestamp("2026-11-19T03:00Z")] * 4, "team": ["NT01", "NT01", "NT02", "NT02"],
        "section": ["listed"] * 4, "tier": ["crisis", "wobbling", "crisis", "wobbling"], "people": [3, 12, 0, 27],
        "new_people": [0, 0, 0, 0]})
    overview = write_overview(cfg, "r1", AS_OF, root, teams, trends, _freshness(), population=POPULATION)
    return {"cfg": cfg, "root": root, "teams": teams, "people": people, "written": written, "overview": overview}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict:
    return sample_folder(tmp_path_factory.mktemp("teams"))


def test_each_team_folder_has_its_files_with_private_modes(sample):
    s = sample
    for team in ("NT01", "NT02"):
        folder = s["root"] / "teams" / team
        names = {p.name for p in folder.iterdir()}
        assert names == {f"{team}.csv", f"{team}.xlsx", "report.html", "already_working.csv", "snoozed.csv", "dropped.csv",
                         "about_this_list.txt", "timelines.json"}
        assert stat.S_IMODE(folder.stat().st_mode) == 0o750
        for p in folder.iterdir():
            assert stat.S_IMODE(p.stat().st_mode) == 0o640, p.name
        assert {w["path"] for w in s["written"][team]} == {f"teams/{team}/{n}" for n in names}
    assert stat.S_IMODE(s["overview"].stat().st_mode) == 0o640


def test_a_team_folder_holds_only_that_teams_people(sample):
    import openpyxl

    s = sample
    for team, other in (("NT01", "NT02"), ("NT02", "NT01")):
        folder = s["root"] / "teams" / team
        texts = [p.read_text(encoding="utf-8") for p in folder.iterdir() if p.suffix in (".csv", ".html", ".json")]
        wb = openpyxl.load_workbook(folder / f"{team}.xlsx")
        texts += [str(c.value) for ws in wb for row in ws.iter_rows() for c in row if c.value is not None]
        seen = {h for t in texts for h in HEX64.findall(t)}
        assert not seen & s["people"][other]
        assert seen & s["people"][team]


def test_report_is_self_contained_escaped_and_links_only_inside_its_folder(sample):
    s = sample
    folder = s["root"] / "teams" / "NT01"
    html = (folder / "report.html").read_text(encoding="utf-8")
    for banned in ("<script", "<link", "src=", "http://", "https://", "@import", "url(", "<iframe", "<img"):
        assert banned not in html.lower(), banned
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;quoted&#34;" in html
    ids = set(re.findall(r' id="([^"]+)"', html))
    for href in re.findall(r'href="([^"]*)"', html):
        if href.startswith("#"):
            assert href[1:] in ids, href  # a place on the page itself
        else:
            assert "/" not in href and ".." not in href and (folder / href).is_file(), href
    for page in (s["overview"],):
        text = page.read_text(encoding="utf-8")
        assert "<script" not in text and "http" not in text


def test_report_shows_ranked_households_sections_and_freshness(sample):
    s = sample
    t = s["teams"]["NT01"]
    html = (s["root"] / "teams" / "NT01" / "report.html").read_text(encoding="utf-8")
    # one <tbody> per household, in household order, members in rank order
    bodies = re.findall(r'<tbody class="household (crisis|wobbling)" id="household-(\d+)">(.*?)</tbody>', html, re.S)
    assert [int(b[1]) for b in bodies] == sorted(t.listed["household_rank"].unique())
    ranks = [int(r) for b in bodies for r in re.findall(r'<td class="rank">(\d+)</td>', b[2])]
    assert ranks == list(t.listed["rank"])
    first = bodies[0][2]
    assert pid(100) in first and pid(101) in first  # crisis member and the wobbling member of the same household
    assert bodies[0][0] == "crisis"
    assert "Already working with" in html and pid(104) in html.split('id="already-working"')[1].split('id="snoozed"')[0]
    snoozed = html.split('id="snoozed"')[1].split('id="dropped"')[0]
    assert pid(105) in snoozed and (AS_OF - timedelta(days=5) + timedelta(days=90)).isoformat() in snoozed
    dropped = html.split('id="dropped"')[1]
    assert pid(109) in dropped and "died" in dropped
    assert "stale since" in html and "12 days old" in html
    # a timeline for each shown person; the one person with contacts has marks
    assert html.count('<svg class="timeline"') == len(t.listed) + len(t.already_working)
    assert html.count('class="mark"') == 3  # weeks 0, 3 and 52; week 60 is over a year ago


def test_overview_suppresses_small_counts_and_holds_no_pseudonym(sample):
    s = sample
    html = s["overview"].read_text(encoding="utf-8")
    assert not HEX64.search(html)
    row = re.search(r"<tr><td>NT01</td>(.*?)</tr>", html, re.S).group(1)
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells[:3] == ["1235", "&lt;10", "&lt;10"]  # 1,234 registered; 3 in crisis and 2 wobbling listed
    assert re.search(r"<tr><td>NT02</td><td class=\"num\">&lt;10</td>", html)  # 8 registered: suppressed
    assert "&lt;10 / 10" in html  # last run's NT01: 3 in crisis, 12 wobbling -> <10 / 10
    assert "0 / 25" in html  # NT02: 0 / 27 -> 0 / 25
    assert html.count("<circle") == 4  # two runs, two tiers


def test_timeline_places_weeks_right_to_left_and_darkens_with_contacts():
    weeks = Weeks(source=["health", "health", "police", "housing"], week_ago=[0, 10, 10, 99], events=[1, 5, 2, 1])
    t = timeline(weeks, AS_OF)
    assert len(t["marks"]) == 3
    by = {(m.fill, m.x): m for m in t["marks"]}
    latest = [m for m in t["marks"] if m.x == TL_LABEL_W + (TL_WEEKS - 1) * TL_WEEK_W]
    assert len(latest) == 1 and "week to 2026-11-20" in latest[0].title
    older = [m for m in t["marks"] if m.x == TL_LABEL_W + (TL_WEEKS - 11) * TL_WEEK_W]
    assert len(older) == 2 and max(m.opacity for m in older) > latest[0].opacity
    assert "5 contacts" in " ".join(m.title for m in older)
    assert [r["total"] for r in t["rows"]] == [6, 0, 0, 2]
    assert len(t["ticks"]) == 12 and len(by) == 3


def test_a_night_without_a_wobbling_model_says_so_on_every_page(tmp_path):
    from stratify.publish.stage import list_notices

    assert list_notices({"model": {"model_version": "v1"}}) == []
    notices = list_notices({"model": {"warning": "no promoted wobbling model: ... /srv/models/card.html"}})
    assert notices and "crisis tier only" in notices[0] and "/srv" not in notices[0]
    s = sample_folder(tmp_path)
    t = s["teams"]["NT01"]
    path = s["root"] / "lists" / "NT01.csv"
    write_team_folder(s["cfg"], "r1", AS_OF, s["root"], t, path, _freshness(), {}, notices)
    assert notices[0] in (s["root"] / "teams" / "NT01" / "report.html").read_text(encoding="utf-8")
    page = write_overview(s["cfg"], "r1", AS_OF, s["root"], s["teams"], pd.DataFrame(columns=["section"]), [], notices)
    assert notices[0] in page.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- issue 20: what team leads and leaders read


def _text(html: str) -> str:
    """The words of a page (tags, the stylesheet and attribute values left out), entities decoded."""
    import html as h

    body = re.sub(r"<style>.*?</style>", " ", html, flags=re.S)
    return h.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def test_the_overview_gives_the_denominator_and_the_unmet_need_through_suppression(sample, tmp_path):
    from stratify.publish.overview import team_rows
    from stratify.publish.suppression import suppress

    s = sample
    sup = s["cfg"].suppression
    teams = dict(s["teams"])
    teams["NT01"].counts["over_capacity_crisis"] = 12  # met a crisis rule, no room on the list
    rows, total = team_rows(teams, POPULATION, sup)
    nt01 = next(r for r in rows if r["team"] == "NT01")
    assert nt01["registered"] == suppress(1234, sup) and nt01["over_capacity_crisis"] == "10"
    assert total["registered"] == suppress(1242, sup)
    # the ranked list counts who was left off because the list was full
    t = s["teams"]["NT02"]
    listable = 6 - t.counts["already_working"] - t.counts["snoozed"]
    assert t.counts["over_capacity_crisis"] + t.counts["over_capacity_wobbling"] == listable - len(t.listed)


def test_one_run_is_a_table_and_a_chart_draws_only_lines_that_are_there(sample, tmp_path):
    s = sample
    first = write_overview(s["cfg"], "r1", AS_OF, tmp_path, s["teams"], pd.DataFrame(columns=["section"]), _freshness(),
                           population=POPULATION).read_text(encoding="utf-8")
    assert '<svg class="chart"' not in first and "One run so far" in first
    assert re.search(r"<th>all teams</th><th class=\"num\">&lt;10 / &lt;10</th>", first)  # tonight's totals
    html = s["overview"].read_text(encoding="utf-8")
    assert '<svg class="chart"' in html and "wobbling (dashed)" in html
    from stratify.publish.overview import trend_chart

    no_wobbling = [{"as_of": "2026-11-19", "crisis": 12, "wobbling": 0}, {"as_of": "2026-11-20", "crisis": 15, "wobbling": 0}]
    chart = trend_chart(no_wobbling, s["cfg"].suppression)
    assert [line["tier"] for line in chart["lines"]] == ["crisis"]


def test_pages_workbook_and_csv_folder_say_what_the_list_is_without_configuration_keys(sample):
    import openpyxl

    from stratify.config import TOP_LEVEL_KEYS
    from stratify.publish.about_list import SUPPORTS

    s = sample
    folder = s["root"] / "teams" / "NT01"
    report = _text((folder / "report.html").read_text(encoding="utf-8"))
    overview = _text(s["overview"].read_text(encoding="utf-8"))
    about = (folder / "about_this_list.txt").read_text(encoding="utf-8")
    wb = openpyxl.load_workbook(folder / "NT01.xlsx")
    book = " ".join(str(c.value) for c in wb["About"]["B"] if c.value)
    for text in (report, overview, about, book):
        assert SUPPORTS in text
        assert "In crisis: the person's records, up to 2026-11-20, meet at least one of the place's 4 crisis rules" in text
        assert "Wobbling: not in crisis, but the model puts the chance" in text and "within the next 6 months" in text
        assert "Data up to 2026-11-20" in text
    for text in (report, about, book):
        assert "police: last accepted delivery 2026-11-08" in text or "2026-11-08" in text  # freshness per source
    for ws in wb:
        assert "decides nothing" in ws.oddHeader.left.text and "2026-11-20" in ws.oddFooter.left.text
    keys = re.compile(r"\b(?:{})\.[a-z_]+\b".format("|".join(sorted(TOP_LEVEL_KEYS))))
    for text in (report, overview):
        assert not keys.search(text), keys.search(text)


def test_what_a_score_means_comes_from_the_models_test_on_past_people(sample):
    from stratify.publish.about_list import list_facts, score_meaning

    s = sample
    metrics = {"test_snapshot": "2026-05-20", "score_bands": [
        {"low": 0.0, "high": 0.05, "people": 90_000, "crises": 90}, {"low": 0.05, "high": 0.1, "people": 400, "crises": 28},
        {"low": 0.1, "high": 0.2, "people": 150, "crises": 24}, {"low": 0.2, "high": 0.3, "people": 12, "crises": 3}]}
    facts = list_facts(s["cfg"], "r1", AS_OF, _freshness(), "20261120-his-abc", 6, metrics)
    lines = score_meaning(facts, s["cfg"].suppression)
    assert lines[0] == "Score from 0.05 to 0.10: of 400 past people with such a score, about 7 in 100 met a crisis rule within 6 months."
    # 150 people from 0.10 to 0.20 and 12 from 0.20 to 0.30, too few alone, are said together: 27 in 162
    assert lines[1] == ("Score from 0.10 to 0.30: of 160 past people with such a score, about 17 in 100 met a crisis "
                        "rule within 6 months.")
    assert len(lines) == 2  # the band below the wobbling threshold holds nobody on a list
    thin = list_facts(s["cfg"], "r1", AS_OF, [], "v", 6, {"score_bands": [{"low": 0.2, "high": 0.3, "people": 12, "crises": 3}]})
    assert score_meaning(thin, s["cfg"].suppression) == [
        "Score from 0.20 to 0.30: too few past people had such a score to say what it means (10 people)."]
    none = score_meaning(list_facts(s["cfg"], "r1", AS_OF, []), s["cfg"].suppression)
    assert "crisis tier only" in none[0]


def test_the_score_bands_count_past_people_and_crises_per_band():
    import numpy as np

    from stratify.model.score_bands import score_bands

    bands = score_bands(np.array([0, 1, 0, 1, 1]), np.array([0.01, 0.07, 0.12, 0.15, 1.0]))
    by = {(b["low"], b["high"]): (b["people"], b["crises"]) for b in bands}
    assert by[(0.0, 0.05)] == (1, 0) and by[(0.05, 0.1)] == (1, 1) and by[(0.1, 0.2)] == (2, 1) and by[(0.5, 1.0)] == (1, 1)


def test_short_references_are_said_aloud_and_lengthened_only_where_two_would_clash():
    from stratify.publish.people import short_refs

    a, b, c = "3f9a" + "0" * 60, "3f9b" + "0" * 60, "3f9b1" + "1" * 59
    refs = short_refs([a, b, c, "77" + "e" * 62])
    assert refs[a] == "3f9a" and refs["77" + "e" * 62] == "77ee"
    assert refs[b] == "3f9b0" and refs[c] == "3f9b1"
    assert len(set(refs.values())) == 4


def test_the_page_shows_short_references_rules_met_and_the_csv_keeps_full_pseudonyms(sample):
    s = sample
    t = s["teams"]["NT01"]
    folder = s["root"] / "teams" / "NT01"
    html = (folder / "report.html").read_text(encoding="utf-8")
    listed = pd.read_csv(folder / "NT01.csv", dtype=str)
    assert set(t.listed["person_id"]) == set(listed["person_id"])  # full pseudonyms in the CSV
    refs = re.findall(r'<code class="ref" title="([0-9a-f]{64})">([0-9a-f]+)</code>', html)
    assert refs and all(full.startswith(ref) and len(ref) >= 4 for full, ref in refs)  # (these pseudonyms share 62)
    assert len({ref for _, ref in refs}) == len({full for full, _ in refs})
    ranked = html.split('<table class="ranked">')[1].split("</table>")[0]
    assert "meets 2 of 4 crisis rules" in ranked and "meets 1 of 4 crisis rules" in ranked
    assert "score 1.00" not in ranked and "score 0.70" in ranked
    crisis_rules = html.split('id="about"')[1].split("</section>")[0]
    assert "High-intensity use of A&amp;E: five or more attendances in 90 days" in crisis_rules


def test_rules_met_read_back_from_the_severity_scoring_writes(tmp_path):
    from stratify.publish.people import crisis_rules_met
    from stratify.score import score_frame

    cfg = write_place(tmp_path)
    df = pd.DataFrame({"person_id": ["a", "b", "c"], "team": ["NT01"] * 3, "in_crisis": [True, True, False],
                       "crisis_rules": ["smd_3plus; high_intensity_ae; high_intensity_police", "smd_3plus", ""],
                       "crisis_reasons": ["x; y; z", "x", ""], "health_events_90d": [40, 3, 0],
                       "police_events_90d": [7, 0, 0], "smd_domains_365d": [4, 3, 0]})
    severity = score_frame(cfg, df, None)["severity"]
    assert [crisis_rules_met(v) for v in severity[:2]] == [3, 1]


def test_the_page_lets_a_reader_jump_to_each_tier_household_and_what_changed(sample):
    s = sample
    t = s["teams"]["NT01"]
    html = (s["root"] / "teams" / "NT01" / "report.html").read_text(encoding="utf-8")
    nav = html.split('<nav class="jump"')[1].split("</nav>")[0]
    for target in ("#tier-crisis", "#tier-wobbling", "#households", "#changes", "#dropped", "#about"):
        assert f'href="{target}"' in nav and f'id="{target[1:]}"' in html, target
    index = html.split('class="hh-index"')[1].split("</p>")[0]
    assert re.findall(r'href="#household-(\d+)"', index) == [str(r) for r in sorted(t.listed["household_rank"].unique())]
    changed = html.split('id="changes"')[1].split("<h2")[0]
    assert "new on the list" in changed and "dropped off" in changed


def test_the_workbook_prints_landscape_fitted_to_width_with_the_header_row_and_narrow_ids(sample):
    import openpyxl

    wb = openpyxl.load_workbook(sample["root"] / "teams" / "NT01" / "NT01.xlsx")
    for ws in wb:
        assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == int(ws.PAPERSIZE_A4)
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
        assert ws.page_setup.fitToHeight == 0 and ws.print_title_rows.replace("$", "") == "1:1"
    crisis = wb["Crisis"]
    header = [c.value for c in crisis[1]]
    assert header[:3] == ["rank", "ref", "person_id"] and "why ranked" in header
    for name in ("person_id", "household_id", "ref"):
        assert crisis.column_dimensions[chr(ord("A") + header.index(name))].width <= 12, name
    total = sum(crisis.column_dimensions[chr(ord("A") + j)].width for j in range(len(header)))
    assert total < 260  # about 1,800 px of columns: fitted to an A4 landscape width, still readable
    reasons = crisis.cell(row=2, column=header.index("reasons") + 1)
    assert reasons.value.count("\n") == 1 and reasons.alignment.wrap_text  # one reason a line
    assert crisis.row_dimensions[2].height >= 30  # the row is as tall as its text: nothing prints over the next


def test_copying_a_cell_style_through_openpyxls_private_style_still_works():
    """Fails when openpyxl changes `Cell._style` (the one private reach, `workbook.style_array`)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment
    from openpyxl.styles.cell_style import StyleArray

    from stratify.publish.workbook import set_style_array, style_array

    ws = Workbook().active
    a, b = ws.cell(row=1, column=1), ws.cell(row=2, column=1)
    a.number_format, a.alignment = "0.0000", Alignment(wrap_text=True, vertical="top")
    style = style_array(a)
    assert isinstance(style, StyleArray), "openpyxl's Cell._style is no longer a StyleArray: rework workbook.style_array"
    set_style_array(b, style)
    assert b.number_format == "0.0000" and b.alignment.wrap_text and b.alignment.vertical == "top"
    b.number_format = "0.00"  # a copy, not shared
    assert a.number_format == "0.0000"


@pytest.mark.parametrize("as_of", [date(2026, 11, 20), date(2026, 12, 3), date(2027, 1, 31), date(2026, 2, 1)])
def test_timeline_month_labels_are_whole_months_and_never_cut_at_the_edge(as_of):
    from stratify.publish.team_page import TL_WIDTH, _month_ticks

    ticks = _month_ticks(as_of)
    labelled = [k for k in ticks if k["label"]]
    assert all(k["label"] in ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
               for k in labelled)
    if any(k["x"] for k in ticks):
        assert "Jan" in [k["label"] for k in labelled] or as_of.month == 1
    spans = [(k["tx"], k["tx"] + k["w"]) if k["anchor"] == "start" else (k["tx"] - k["w"], k["tx"]) for k in labelled]
    assert all(right <= TL_WIDTH for _, right in spans)  # nothing drawn past the edge (the clipped "D")
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # no two names overlap
    if as_of == date(2026, 11, 20):
        assert labelled[-1]["label"] == "Nov" and labelled[-1]["anchor"] == "end"


def test_the_overview_shows_who_is_listed_what_engagement_changed_and_past_lists(sample, tmp_path):
    measure = {
        "fairness": {"selection_rates": [
            {"team": None, "group_kind": "sex", "group": "F", "people": 900, "listed": 30, "rate": 30 / 900,
             "ci_low": 0.023, "ci_high": 0.047, "ratio": 1.0, "flagged": False, "crisis_ratio": 1.0,
             "crisis_rate": 0.04, "listed_per_crisis": 0.8, "suppressed": False},
            {"team": None, "group_kind": "sex", "group": "M", "people": 900, "listed": 10, "rate": 10 / 900,
             "ci_low": 0.006, "ci_high": 0.02, "ratio": 1 / 3, "flagged": True, "crisis_ratio": 0.9,
             "crisis_rate": 0.036, "listed_per_crisis": 0.3, "suppressed": False},
            {"team": None, "group_kind": "sex", "group": "X", "people": None, "listed": None, "rate": None,
             "ci_low": None, "ci_high": None, "ratio": None, "flagged": False, "crisis_ratio": None,
             "crisis_rate": None, "listed_per_crisis": None, "suppressed": True}],
            "flagged": ["sex M in the place: listed at 0.33 times the rate of the most-listed group"]},
        "impact": {"estimated": True, "engaged_people": 37, "effect_interactions_per_person_year": -4.2,
                   "ci_low": -7.0, "ci_high": -1.5, "naive_change_interactions_per_person_year": -12.0,
                   "comparison_change_interactions_per_person_year": -7.8,
                   "why_they_differ": "people who looked alike before changed too"},
        "past_lists": [], "retrain_flagged": False,
    }
    page = write_overview(sample["cfg"], "r1", AS_OF, tmp_path, sample["teams"], pd.DataFrame(columns=["section"]),
                          _freshness(), measures=measure).read_text()
    assert "What the teams' engagement changed" in page and "-4.2" in page and "-7.0 to -1.5" in page
    assert ">35<" in page  # 37 engaged people, rounded by the suppression rule
    assert "<strong>flagged</strong>" in page and "small group" in page and "No published list is six months old" in page
    assert "3.33%" in page and "1.11%" in page
