"""The load itself, in a process of its own: locust's users signing in and reading their team's pages.

    python -m stratify.bench.app_driver SPEC.json OUT.json

The load lasts the spec's `seconds` at most, less if the parent creates the
spec's `stop_file` first.

A separate process because importing locust monkey-patches the whole
interpreter for gevent (sockets, threads, subprocess): the benchmark that
starts the server and the nightly run stays an ordinary process. Locust runs
as a library (`Environment` + `LocalRunner`, headless, no web UI).

Each simulated user takes one account of the spec, opens `/login` (the
anti-forgery token from the form and its cookie), posts `username`,
`password` and `csrf_token`, and then, with a think time between pages,
reads its team's list (plain, or filtered by a value of the page's own
tier, change or agency filter) and the pages of people it saw on its last
list. Every response is one sample (start time, what, status, milliseconds,
the run and data date a list page names); a response that is not 200, is
not the page asked for, or does not name exactly one run is a failure
here, and the parent checks each named run against the published runs. The samples and locust's own
totals go to OUT.json; the parent (`app_load`) computes the figures.
"""

from __future__ import annotations

import json
import random
import re
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

RUN_RE = re.compile(r'data up to <strong>([^<]+)</strong> &middot; run <code>([^<]+)</code>')
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
SELECT_RE = re.compile(r'<select id="f-(\w+)" name="\w+">(.*?)</select>', re.DOTALL)
OPTION_RE = re.compile(r'<option value="([^"]+)"')


def filters_of(page: str) -> dict[str, list[str]]:
    """The list page's own filter form: each filter and its values (the choices a user has)."""
    return {key: OPTION_RE.findall(body) for key, body in SELECT_RE.findall(page) if OPTION_RE.findall(body)}


def _people_re(team: str) -> re.Pattern[str]:
    return re.compile(rf'href="/teams/{re.escape(team)}/people/([0-9A-Za-z]+)"')


def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the load the spec describes; the samples and locust's totals."""
    import gevent
    from locust import FastHttpUser, between, task
    from locust.env import Environment

    accounts = list(spec["accounts"])  # [{"user", "password", "team"}], one per simulated user
    samples: list[dict[str, Any]] = []
    think = spec["think_s"]

    class TeamUser(FastHttpUser):
        wait_time = between(think[0], think[1])
        host = spec["host"]

        def on_start(self) -> None:
            self.account = accounts.pop()
            self.team = self.account["team"]
            self.refs: list[str] = []
            self.filters: dict[str, list[str]] = {}
            self.people_re = _people_re(self.team)
            self.signed_in = self._log_in()

        def _sample(self, kind: str, t0: float, status: int, ms: float, ok: bool, why: str = "",
                    run: tuple[str, str] | None = None) -> None:
            samples.append({"kind": kind, "start": t0, "status": status, "ms": round(ms, 2), "ok": ok, "why": why,
                            "run_id": run[1] if run else None, "as_of": run[0] if run else None,
                            "user": self.account["user"]})

        def _get(self, kind: str, path: str, expect: str) -> str | None:
            """GET a page, checked: 200, the page asked for (not the log-in page), a known run named."""
            t0 = time.time()
            with self.client.get(path, name=kind, catch_response=True, allow_redirects=False) as r:
                ms = (time.time() - t0) * 1000
                text = r.text or ""
                why = ""
                if r.status_code != 200:
                    why = f"status {r.status_code}"
                elif expect not in text:
                    why = "not the page asked for"
                run = None
                if not why and kind.startswith("list"):
                    found = RUN_RE.findall(text)
                    if len(found) == 1:
                        run = found[0]  # which run it is, and that it is one run: checked by the parent
                    else:
                        why = f"names {len(found)} runs"
                if why:
                    r.failure(why)
                else:
                    r.success()
                self._sample(kind, t0, r.status_code, ms, not why, why, run)
                return None if why else text

        def _log_in(self) -> bool:
            t0 = time.time()
            form = self.client.get("/login", name="login form")
            token = TOKEN_RE.search(form.text or "")
            ok = form.status_code == 200 and token is not None
            self._sample("login form", t0, form.status_code, (time.time() - t0) * 1000, ok, "" if ok else "no form")
            if token is None:
                return False
            t0 = time.time()
            with self.client.post("/login", name="login", catch_response=True, allow_redirects=False,
                                  data={"username": self.account["user"], "password": self.account["password"],
                                        "csrf_token": token.group(1)}) as r:
                ok = r.status_code == 303 and urlsplit(r.headers.get("location") or "").path == "/"
                if ok:
                    r.success()
                else:
                    r.failure(f"log-in refused (status {r.status_code}, to {r.headers.get('location')})")
                self._sample("login", t0, r.status_code, (time.time() - t0) * 1000, ok,
                             "" if ok else "log-in refused")
            if ok:
                self._list()
            return ok

        def _list(self, query: str = "") -> None:
            kind = "list (filtered)" if query else "list"
            text = self._get(kind, f"/teams/{self.team}{query}", f"Team {self.team}")
            if text is not None:
                self.filters = self.filters or filters_of(text)
                found = self.people_re.findall(text)
                if found or not query:
                    self.refs = sorted(set(found)) or self.refs

        @task(3)
        def team_list(self) -> None:
            if self.signed_in:
                self._list()

        @task(2)
        def filtered_list(self) -> None:
            if self.signed_in and self.filters:
                key = random.choice(sorted(self.filters))
                self._list(f"?{key}={random.choice(self.filters[key])}")

        @task(6)
        def person(self) -> None:
            if self.signed_in and self.refs:
                ref = random.choice(self.refs)
                self._get("person", f"/teams/{self.team}/people/{ref}", f"Person <code class=\"ref\">{ref}</code>")

    env = Environment(user_classes=[TeamUser])
    runner = env.create_local_runner()
    t0 = time.time()
    runner.start(len(accounts), spawn_rate=spec["spawn_rate"])
    if spec.get("started_file"):  # the parent times the load from here, not from this process's start
        Path(spec["started_file"]).write_text(repr(t0), encoding="utf-8")
    stop_file = Path(spec["stop_file"]) if spec.get("stop_file") else None

    def stop_when_told() -> None:  # the parent ends the load early by creating the stop file
        while time.time() - t0 < spec["seconds"] and not (stop_file and stop_file.exists()):
            gevent.sleep(0.1)
        runner.quit()

    gevent.spawn(stop_when_told)
    runner.greenlet.join()
    elapsed = time.time() - t0
    total = env.stats.total
    return {"started": t0, "seconds": elapsed, "samples": samples,
            "locust": {"requests": total.num_requests, "failures": total.num_failures,
                       "rps": round(total.num_requests / elapsed, 2) if elapsed else 0.0,
                       "p95_ms": total.get_response_time_percentile(0.95) if total.num_requests else None,
                       "errors": [{"name": e.name, "error": str(e.error), "count": e.occurrences}
                                  for e in env.stats.errors.values()]}}


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    out = run_load(spec)
    Path(argv[1]).write_text(json.dumps(out), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
