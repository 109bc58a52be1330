"""The web app in real Chromium over a real night: a team lead records `engaged`, the next run lists them as already working.

Playwright (the Python package) drives Debian's Chromium (its own browser
download cannot work here). The place is synthetic and run through the
whole pipeline twice; screenshots are kept in the test's folder (paths printed).
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from app_place import PASSWORD, Clock

from helpers import no_settle_pause
from stratify.app import users
from stratify.app.store import migrate, open_db
from stratify.config import load_config

CHROMIUM = Path("/usr/bin/chromium")
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")]
DAY1, DAY2 = date(2026, 11, 20), date(2026, 11, 21)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    from stratify.run.pipeline import run_pipeline
    from stratify.synth.generate import synthesize

    root = tmp_path_factory.mktemp("app_browser") / "place"
    root.mkdir()
    (root / "place.yaml").write_text("place: synthetic\nlanding: landing\nwarehouse: wh.duckdb\nout: out\n"
                                     "neighbourhoods: neighbourhoods.csv\nmodel:\n  history_months: 6\n",
                                     encoding="utf-8")
    (root / "neighbourhoods.csv").write_text("lsoa21,team\nE01000001,NT01\n", encoding="utf-8")
    synthesize(load_config(root / "place.yaml"), people=1500, as_of=DAY1, seed=3)
    cfg = load_config(root / "place.yaml")
    with no_settle_pause():
        assert run_pipeline(cfg, DAY1)["status"] == "published"
    team = min(p.stem for p in (cfg.out / "latest" / "lists").glob("*.csv")
               if len((cfg.out / "latest" / "lists" / p.name).read_text().splitlines()) > 1)
    migrate(cfg.app_database)
    with open_db(cfg.app_database) as con:
        users.add_user(con, "Ann Lead", "team_lead", team, PASSWORD, cfg.teams, datetime.now(UTC))
        users.add_user(con, "Ivy Auditor", "ig_auditor", None, PASSWORD, cfg.teams, datetime.now(UTC))
        users.add_user(con, "Pia Place", "place_lead", None, PASSWORD, cfg.teams, datetime.now(UTC))
        users.add_user(con, "Dee Data", "data_team", None, PASSWORD, cfg.teams, datetime.now(UTC))
    return cfg, team, run_pipeline


@pytest.fixture(scope="module")
def server(night):
    import uvicorn

    from stratify.app.web import create_app

    cfg, _, _ = night
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(cfg, clock=Clock(datetime(2026, 11, 21, 8, 0, tzinfo=UTC))),
                                        host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


# axe-core's rules for WCAG 2.0, 2.1 and 2.2 at levels A and AA (what the Public Sector Bodies Accessibility
# Regulations 2018 ask), plus its best practices (landmarks, one main, headings in order).
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa", "best-practice"]


def axe_violations(page, what: str) -> list[str]:
    """axe-core's violations on the page as it stands, one line per rule and element (empty: none found)."""
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]})
    return [f"{what} [{page.url.rsplit('/', 1)[-1]}]: {v['id']} ({v['impact']}, {len(v['nodes'])} elements): "
            f"{v['help']}: " + " | ".join(f"{n['target']} {n['html'][:120]}" for n in v["nodes"][:3])
            for v in result.response["violations"]]


def _sign_in(page, server: str, name: str) -> None:
    page.goto(server + "/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def test_a_team_lead_records_engaged_and_the_next_night_lists_them_as_already_working(night, server, tmp_path):
    import duckdb

    cfg, team, run_pipeline = night
    found: list[str] = []  # axe-core's violations on every page on the way
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(server + f"/teams/{team}")
        assert page.url.endswith("/login")
        found += axe_violations(page, "log-in page")
        page.screenshot(path=str(tmp_path / "1-login.png"), full_page=True)
        page.fill("#username", "Ann Lead")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        assert page.url.endswith(f"/teams/{team}")
        assert page.locator("h1").inner_text() == f"Team {team}: who to look at first"
        found += axe_violations(page, "team list")
        assert page.locator("table.ranked svg.timeline").count() == page.locator("table.ranked tbody tr.person").count()
        page.screenshot(path=str(tmp_path / "2-list.png"), full_page=True)
        refs = page.locator("table.ranked tbody tr th a").all_inner_texts()
        ref, other = refs[0], refs[-1]
        page.locator("table.ranked tbody tr th a").first.click()
        assert page.locator("h1").inner_text() == f"Person {ref}"
        found += axe_violations(page, "person page")
        page.click("details.pid summary")  # the 64 characters are behind a labelled disclosure, the short ref first
        person_id = page.locator("code.pid-full").inner_text()
        assert person_id.startswith(ref) and len(person_id) == 64
        page.check("input[name=outcome][value=engaged]")
        page.fill("#note", "met at the hub, agreed to a plan")
        page.click("form.stack button[type=submit]")
        assert "Recorded: takes effect in tonight's list." in page.locator("p.notice").inner_text()
        found += axe_violations(page, "person page, recorded")
        page.screenshot(path=str(tmp_path / "3-recorded.png"), full_page=True)
        page.goto(server + f"/teams/{team}/people/{other}")  # a second person, declined: snoozed tomorrow
        page.check("input[name=outcome][value=declined]")
        page.click("form.stack button[type=submit]")
        assert "Recorded" in page.locator("p.notice").inner_text()

        with no_settle_pause():
            result = run_pipeline(cfg, DAY2)
        assert result["status"] == "published"
        con = duckdb.connect(str(cfg.warehouse), read_only=True)
        try:
            taken = con.execute("SELECT file_name, decision FROM deliveries WHERE run_id = $1 AND source = 'outcomes'",
                                [result["run_id"]]).fetchall()
        finally:
            con.close()
        assert taken == [("outcomes_20261121_1.csv", "accepted"), ("outcomes_20261121_2.csv", "accepted")], taken

        page.goto(server + f"/teams/{team}")
        assert result["run_id"] in page.locator("p.meta").inner_text()  # the next page load shows the new run
        section = page.locator("h2#already-working + table")
        assert ref in section.inner_text() and "engaged" in section.inner_text()
        assert other in page.locator("h2#snoozed + table").inner_text()
        assert ref not in page.locator("table.ranked").inner_text()
        found += axe_violations(page, "team list, next night (already working with, snoozed, dropped)")
        page.screenshot(path=str(tmp_path / "4-next-night.png"), full_page=True)
        for section in ("already-working", "snoozed"):
            page.goto(server + f"/teams/{team}")
            page.locator(f"h2#{section} + table tbody tr th a").first.click()
            found += axe_violations(page, f"person page of the {section} section")

        ig = browser.new_context().new_page()  # the IG officer's log shows the view that preceded the outcome
        _sign_in(ig, server, "Ivy Auditor")
        assert ig.url.endswith("/ig/audit") and "chain intact" in ig.locator("main").inner_text()
        found += axe_violations(ig, "IG access log")
        ig.goto(server + "/ig/audit?user_name=Ann+Lead")
        actions = [r.split("\t") for r in ig.locator("tbody tr").evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.innerText).join('\\t'))")]
        order = [(a[5], a[6]) for a in reversed(actions)]
        assert order.index(("view_person", person_id)) < order.index(("record_outcome", person_id))
        ig.screenshot(path=str(tmp_path / "5-access-log.png"), full_page=True)
        browser.close()
    assert errors == []  # no CSP violation or other error in the console
    print(f"\nscreenshots: {tmp_path}")
    assert found == [], "\n".join(found)


def test_every_other_page_passes_axe_core_and_shows_where_keyboard_focus_is(night, server):
    """The pages of the other roles, the filtered list, a refusal and a missing page: no WCAG 2.2 AA violation."""
    cfg, team, _ = night
    found: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        lead = browser.new_page(viewport={"width": 1280, "height": 900})
        _sign_in(lead, server, "Ann Lead")
        lead.goto(server + f"/teams/{team}?tier=crisis")
        found += axe_violations(lead, "filtered team list")
        lead.goto(server + f"/teams/{team}?tier=wobbling&change=new&agency=police")
        found += axe_violations(lead, "filtered team list, maybe nobody")
        lead.goto(server + "/teams/NT99")
        assert lead.locator("h1").inner_text() == "Not found"
        found += axe_violations(lead, "404 page")
        lead.goto(server + f"/teams/{team}?tier=nonsense")
        found += axe_violations(lead, "message page (unknown filter)")
        lead.goto(server + f"/teams/{team}")
        dropped = lead.locator("h2#dropped + table tbody tr th a")
        if dropped.count():
            dropped.first.click()
            found += axe_violations(lead, "person page of the dropped section")
        lead.goto(server + f"/teams/{team}")
        for _ in range(6):  # keyboard focus is always visible: a 3px outline on whatever has it
            lead.keyboard.press("Tab")
            focused = lead.evaluate("() => { const e = document.activeElement, s = getComputedStyle(e); "
                                    "return [e.tagName, s.outlineStyle, parseFloat(s.outlineWidth)]; }")
            assert focused[0] != "BODY" and focused[1] != "none" and focused[2] >= 2, focused
        for name, path in (("Pia Place", "/overview"), ("Dee Data", "/status"), ("Ivy Auditor", "/ig/validation")):
            page = browser.new_context().new_page()
            _sign_in(page, server, name)
            page.goto(server + path)
            assert page.url.endswith(path)
            found += axe_violations(page, f"{path} as {name}")
        browser.close()
    assert found == [], "\n".join(found)


def test_the_published_pages_pass_axe_core(night):
    """The files publish writes (a team's report, the overview, the IG validation page, the baseline), opened as files."""
    cfg, team, _ = night
    latest = cfg.out / "latest"
    pages = [latest / "teams" / team / "report.html", latest / "overview.html", latest / "validation.html",
             latest / "baseline.html"]
    found: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for path in pages:
            assert path.is_file(), path
            page.goto(path.resolve().as_uri())
            found += axe_violations(page, path.name)
        browser.close()
    assert found == [], "\n".join(found)


def test_the_nights_copy_the_apps_views_into_access_log_once(night):
    """Two nightly runs of the real pipeline: views in the app are in the warehouse's access_log, none twice."""
    import duckdb
    from app_place import audit_rows, client, log_in

    cfg, team, run_pipeline = night
    clock = Clock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    c = client(cfg, clock)
    assert log_in(c, "Ann Lead").status_code == 303
    assert c.get(f"/teams/{team}").status_code == 200

    def warehouse(sql: str) -> list[tuple]:
        con = duckdb.connect(str(cfg.warehouse), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    for day in (date(2026, 11, 22), date(2026, 11, 23)):
        with no_settle_pause():
            result = run_pipeline(cfg, day)
        assert result["status"] == "published" and result["stages"]["app_access"]["app_database"]
        app = audit_rows(cfg)
        copied = [h for (h,) in warehouse("SELECT row_hash FROM app_access")]
        assert set(copied) == {r["row_hash"] for r in app} and len(copied) == len(app)  # every row, none twice
        logged = warehouse("SELECT user_name, action, target FROM access_log WHERE action LIKE 'app.%'")
        assert sorted(logged) == sorted((r["user_name"] or "(not signed in)", f"app.{r['action']}", r["target"])
                                        for r in app)
        assert ("Ann Lead", "app.view_list", f"list {team}") in logged
        clock.advance(minutes=5)
        c.get(f"/teams/{team}?tier=crisis")  # a view between the two nights: copied by the second
