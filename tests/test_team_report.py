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
from stratify.lists.rank import build_team_lists
from stratify.publish.team_page import TL_LABEL_W, TL_WEEK_W, TL_WEEKS, Weeks, timeline, write_overview, write_team_folder
from stratify.publish.validation_page import SourceFreshness

AS_OF = date(2026, 11, 20)
HEX64 = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
EVIL = "<script>alert(1)</script> & \"quoted\""


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
    overview = write_overview(cfg, "r1", AS_OF, root, teams, trends, _freshness())
    return {"cfg": cfg, "root": root, "teams": teams, "people": people, "written": written, "overview": overview}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict:
    return sample_folder(tmp_path_factory.mktemp("teams"))


def test_each_team_folder_has_its_files_with_private_modes(sample):
    s = sample
    for team in ("NT01", "NT02"):
        folder = s["root"] / "teams" / team
        names = {p.name for p in folder.iterdir()}
        assert names == {f"{team}.csv", f"{team}.xlsx", "report.html", "already_working.csv", "snoozed.csv", "dropped.csv"}
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
        texts = [p.read_text(encoding="utf-8") for p in folder.iterdir() if p.suffix in (".csv", ".html")]
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
    for href in re.findall(r'href="([^"]*)"', html):
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
    assert cells[:2] == ["&lt;10", "&lt;10"]  # 3 in crisis and 2 wobbling listed: suppressed
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
