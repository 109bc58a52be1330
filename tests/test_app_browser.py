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


def test_a_team_lead_records_engaged_and_the_next_night_lists_them_as_already_working(night, server, tmp_path):
    import duckdb

    cfg, team, run_pipeline = night
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(server + f"/teams/{team}")
        assert page.url.endswith("/login")
        page.screenshot(path=str(tmp_path / "1-login.png"), full_page=True)
        page.fill("#username", "Ann Lead")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        assert page.url.endswith(f"/teams/{team}")
        assert page.locator("h1").inner_text() == f"Team {team}: who to look at first"
        page.screenshot(path=str(tmp_path / "2-list.png"), full_page=True)
        first = page.locator("table.ranked tbody tr th a").first
        ref = first.inner_text()
        first.click()
        assert page.locator("h1").inner_text() == f"Person {ref}"
        person_id = page.locator("code.pid-full").inner_text()
        assert person_id.startswith(ref) and len(person_id) == 64
        page.check("input[name=outcome][value=engaged]")
        page.fill("#note", "met at the hub, agreed to a plan")
        page.click("form.stack button[type=submit]")
        assert "Recorded: takes effect in tonight's list." in page.locator("p.notice").inner_text()
        page.screenshot(path=str(tmp_path / "3-recorded.png"), full_page=True)

        with no_settle_pause():
            result = run_pipeline(cfg, DAY2)
        assert result["status"] == "published"
        con = duckdb.connect(str(cfg.warehouse), read_only=True)
        try:
            taken = con.execute("SELECT file_name, decision FROM deliveries WHERE run_id = $1 AND source = 'outcomes'",
                                [result["run_id"]]).fetchall()
        finally:
            con.close()
        assert taken == [("outcomes_20261121_1.csv", "accepted")], taken

        page.goto(server + f"/teams/{team}")
        assert result["run_id"] in page.locator("p.meta").inner_text()  # the next page load shows the new run
        section = page.locator("h2#already-working + table")
        assert ref in section.inner_text() and "engaged" in section.inner_text()
        assert ref not in page.locator("table.ranked").inner_text()
        page.screenshot(path=str(tmp_path / "4-next-night.png"), full_page=True)

        ig = browser.new_context().new_page()  # the IG officer's log shows the view that preceded the outcome
        ig.goto(server + "/login")
        ig.fill("#username", "Ivy Auditor")
        ig.fill("#password", PASSWORD)
        ig.click("button[type=submit]")
        assert ig.url.endswith("/ig/audit") and "chain intact" in ig.locator("main").inner_text()
        ig.goto(server + "/ig/audit?user_name=Ann+Lead")
        actions = [r.split("\t") for r in ig.locator("tbody tr").evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.innerText).join('\\t'))")]
        order = [(a[5], a[6]) for a in reversed(actions)]
        assert order.index(("view_person", person_id)) < order.index(("record_outcome", person_id))
        ig.screenshot(path=str(tmp_path / "5-access-log.png"), full_page=True)
        browser.close()
    assert errors == []  # no CSP violation or other error in the console
    print(f"\nscreenshots: {tmp_path}")
