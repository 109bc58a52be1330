"""A hand-made published run for the web app's tests: two teams, a few people, one with script in its reasons."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from helpers import pid, write_place
from stratify.app import users
from stratify.app.store import migrate, open_db
from stratify.app.web import create_app
from stratify.files.durable import sha256_file
from stratify.publish.team_page import Weeks, timelines_json
from stratify.run.audit import record_publications
from stratify.run.context import RunContext

RUN_ID = "20261120T020000000000Z"
AS_OF = date(2026, 11, 20)
PASSWORD = "correct horse battery staple"
EVIL = "<script>alert('x')</script>"
# NT01's run carries timelines (person 1: police last week, 3 contacts; health a year ago); NT02's, as a run
# published before publish wrote timelines.json, has none.
WEEKS = {pid(1): Weeks(["health", "police"], [51, 1], [1, 3]), pid(2): Weeks(["housing"], [0], [2])}
LIST_HEADER = ("rank,person_id,household_id,tier,score,reasons,agencies,change,household_rank,household_listed,"
               "household_members,last_outcome,last_outcome_date,note,priorities\n")
PRIORITIES = ("priorities:\n"
              "  - {id: homelessness, name: Homelessness, cohort: {domains: {names: [homelessness]}}}\n"
              "  - {id: frail_elderly, name: Frail elderly, cohort: {age: {min: 75}}}\n")


def _row(rank: int, n: int, tier: str, reasons: str, priorities: str = "") -> str:
    return (f'{rank},{pid(n)},,{tier},{1.0 if tier == "crisis" else 0.4:.4f},"{reasons}",health; police,new,{rank},1,1,,,,'
            f'{priorities}\n')


def make_published_place(tmp: Path):
    """A place whose `latest` is a published run: NT01 lists people 1-3 (3 has script in its reasons), NT02 people 11-12.

    The place has two priorities; person 1 falls under homelessness, person 2 under both.
    """
    cfg = write_place(tmp, extra=PRIORITIES)
    run = cfg.out / "runs" / RUN_ID
    people = {"NT01": [(1, "crisis", "6 police contacts in 90 days", "homelessness"),
                       (2, "wobbling", "rising A&E use", "homelessness; frail_elderly"), (3, "crisis", EVIL, "")],
              "NT02": [(11, "crisis", "3 disadvantage domains", ""), (12, "wobbling", "housing", "")]}
    files = []

    def write(rel: str, text: str, team: str | None) -> None:
        path = run / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        files.append({"team": team, "path": rel, "rows": None, "sha256": sha256_file(path)})

    for team, rows in people.items():
        text = LIST_HEADER + "".join(_row(i + 1, n, tier, r, q) for i, (n, tier, r, q) in enumerate(rows))
        write(f"lists/{team}.csv", text, team)
        write(f"teams/{team}/{team}.csv", text, team)
        write(f"teams/{team}/already_working.csv",
              "person_id,household_id,tier,score,reasons,agencies,outcome,outcome_date\n", team)
        write(f"teams/{team}/snoozed.csv",
              "person_id,household_id,tier,score,reasons,agencies,outcome,outcome_date,until\n", team)
        write(f"teams/{team}/dropped.csv",
              "person_id,household_id,previous_rank,previous_tier,previous_score,reason,detail\n", team)
        if team == "NT01":
            write(f"teams/{team}/timelines.json", timelines_json(AS_OF, [pid(n) for n, *_ in rows], WEEKS), team)
    write("manifest.json", json.dumps({"run_id": RUN_ID, "as_of": AS_OF.isoformat()}), None)
    write("overview.html", "<html><body>overview</body></html>", None)
    write("validation.html", "<html><body>validation</body></html>", None)
    record_publications(cfg, RunContext(RUN_ID, cfg.place, AS_OF), files)
    os.symlink(os.path.relpath(run, cfg.out), cfg.out / "latest")
    return cfg


class Clock:
    """A settable UTC clock for the app (sessions expire on it)."""

    def __init__(self, start: datetime = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)


def add_users(cfg) -> None:
    migrate(cfg.app_database)
    with open_db(cfg.app_database) as con:
        for name, role, team in (("ann", "team_lead", "NT01"), ("bob", "team_member", "NT01"),
                                 ("nia", "team_lead", "NT02"), ("pat", "place_lead", None),
                                 ("iggy", "ig_auditor", None), ("dan", "data_team", None)):
            users.add_user(con, name, role, team, PASSWORD, ("NT01", "NT02"), datetime.now(UTC))


def client(cfg, clock: Clock) -> TestClient:
    return TestClient(create_app(cfg, clock=clock))


TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def token(html: str) -> str:
    return TOKEN_RE.search(html).group(1)


def log_in(c: TestClient, name: str, password: str = PASSWORD):
    form = c.get("/login")
    return c.post("/login", data={"username": name, "password": password, "csrf_token": token(form.text)},
                  follow_redirects=False)


def audit_rows(cfg) -> list[dict]:
    with open_db(cfg.app_database) as con:
        return [dict(r) for r in con.execute("SELECT * FROM audit ORDER BY seq")]
