"""`stratify bench app`: signed-in users reading their team's pages from one `stratify serve`, while a night publishes.

    stratify bench app --people 330000 --work DIR --users 50 --seconds 60

Why: issue 19 asks that 50 team members at once get their list and person
pages in under 200 ms (95th percentile), with no errors, even while the
nightly run publishes a new run, and that no page mixes two runs. What it does:

1. a place of `--people` with a published run: built by the nightly
   benchmark (`run_bench`: synthetic history, first load, one night) into
   `--work`, or reused if `--work` already holds one of that size;
2. one app account per simulated user, spread over the place's teams
   (`stratify users add`, the password on standard input; kept owner-only in
   `--work` so a rerun reuses them);
3. one more day of deliveries (`synthesize_day`), for the night to come;
4. ONE `stratify serve` process on a free loopback port (stopped by its pid
   at the end, whatever happens);
5. the load (`app_driver`, locust in a process of its own) for `--seconds`,
   and `--night-at` seconds after it starts (before it, if negative) the
   night: `stratify run` on the same place, which publishes a new run;
6. the figures: requests per second; p50/p95/p99 of the list and person
   pages beside the 200 ms target; errors (any response not 200, not the
   page asked for, or naming a run that is not a published run with its own
   data date) beside zero; whether the new run was published during the load
   and whether every list page asked for after the switch showed it.

Figures go to stdout and to `<work>/app_load-<UTC time>.json`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratify.bench.app_figures import figures_from, report_app
from stratify.bench.measure import BenchError, run_step
from stratify.bench.run import _commit, _machine, run_bench

if TYPE_CHECKING:
    from stratify.config import PlaceConfig

STRATIFY = [sys.executable, "-m", "stratify.cli"]
ACCOUNTS_FILE = "app_load_accounts.json"
READY_TIMEOUT_S = 180  # the server imports the app (and Great Expectations through it) on a busy machine
NIGHT_TIMEOUT_S = 1800
FOLLOW_S = 10.0  # with a night, the load goes on at least this long after the new run is published
MAX_LOAD_S = 900.0


def run_app_load(people: int, work: Path, users: int = 50, seconds: float = 60.0, as_of: date = date(2026, 11, 20),
                 years: int = 3, seed: int = 0, think_s: tuple[float, float] = (1.0, 3.0), night_at: float | None = 5.0,
                 spawn_rate: float = 10.0, place_extra: str = "", load_from_stage: str | None = None,
                 follow_s: float = FOLLOW_S, max_seconds: float = MAX_LOAD_S) -> dict[str, Any]:
    """Build or reuse the place, start the server, run the load and the night; the figures (also as JSON).

    `night_at`: seconds after the load starts that the night starts (before
    it if negative; None: no night). `load_from_stage`: start the night
    first and the load once the night reaches this stage. With a night, the
    load goes on past `seconds` until `follow_s` after the new run is
    published (or the night ends), at most `max_seconds`.
    """
    from stratify.config import load_config

    work = Path(work).resolve()
    t_build = time.perf_counter()
    config, built = ensure_place(people, work, as_of, years, seed, place_extra)
    cfg = load_config(config)
    if load_from_stage is not None and night_at is None:
        raise BenchError("a load that waits for a stage of the night needs a night")
    figures: dict[str, Any] = {
        "people": people, "users": users, "seconds": seconds, "think_s": list(think_s), "night_at_s": night_at,
        "load_from_stage": load_from_stage, "spawn_rate": spawn_rate, "work": str(work), "place_built": built,
        "commit": _commit(), "machine": _machine(), "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if cfg.app_database is None:
        raise BenchError(f"{config} has no app database")
    accounts = ensure_accounts(config, cfg.teams, cfg.app_database, users, work)
    latest_before = _latest(cfg.out)
    if latest_before is None:
        raise BenchError(f"nothing is published in {cfg.out}")
    night = next_night(cfg, date.fromisoformat(published_runs(cfg.out)[latest_before]))
    if night_at is not None:
        run_step({"op": "synth_day", "config": str(config), "seed": seed, "day": night.isoformat()}, work)
    figures["setup_s"] = round(time.perf_counter() - t_build, 1)
    figures["run_before"], figures["night_as_of"] = latest_before, night.isoformat()
    logs = work / "app_load"
    logs.mkdir(exist_ok=True)
    port = free_port()
    server = _spawn([*STRATIFY, "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
                    logs / "serve.log")
    load = Load(cfg.out, logs, latest_before)
    try:
        figures["server"] = {"pid": server.pid, "port": port, "ready_s": wait_ready(server, port)}
        warm_up(port, accounts[0])  # a server that has been up all day has checked the published run already
        spec = {"host": f"http://127.0.0.1:{port}", "accounts": accounts, "seconds": max(seconds, max_seconds),
                "think_s": list(think_s), "spawn_rate": spawn_rate, "stop_file": str(logs / "stop"),
                "started_file": str(logs / "started")}
        night_cmd = None if night_at is None else [*STRATIFY, "run", "--config", str(config), "--as-of",
                                                   night.isoformat()]
        driven = load.run(spec, seconds, night_cmd, night_at or 0.0, load_from_stage, follow_s, max_seconds)
    finally:
        figures.setdefault("server", {})["exit"] = stop(server)
        load.stop_night()  # only after an error: never left running
    figures["night"] = load.night_figures()
    figures["server"]["tracebacks"] = _count(logs / "serve.log", "Traceback")
    figures.update(figures_from(driven, published_runs(cfg.out), latest_before, load.switch.get("run"),
                                load.switch.get("at"), load.t0, load.t1))
    figures["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = work / f"app_load-{stamp}.json"
    path.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    figures["results_file"] = str(path)
    return figures


class Load:
    """The load driver and the night, started on time, with `<out>/latest` watched for the switch."""

    def __init__(self, out: Path, logs: Path, latest_before: str | None):
        self.out, self.logs, self.before = out, logs, latest_before
        self.switch: dict[str, Any] = {}
        self.night: subprocess.Popen | None = None
        self.night_t0 = self.night_t1 = self.t0 = self.t1 = 0.0

    def run(self, spec: dict[str, Any], seconds: float, night_cmd: list[str] | None, night_at: float,
            from_stage: str | None, follow_s: float, max_seconds: float) -> dict[str, Any]:
        """The driver's output once the load is over (and the night, if any, has ended)."""
        for name in ("stop", "started"):
            (self.logs / name).unlink(missing_ok=True)
        (self.logs / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        os.chmod(self.logs / "spec.json", 0o600)  # it holds the accounts' passwords
        out = self.logs / "driver.json"
        out.unlink(missing_ok=True)
        if night_cmd is not None and (from_stage is not None or night_at < 0):
            self._start_night(night_cmd)
            if from_stage is not None:
                self._watch(time.time() + NIGHT_TIMEOUT_S, lambda: self._at_stage(from_stage))
            else:
                self._watch(time.time() - night_at, lambda: False)
        driver = _spawn([sys.executable, "-m", "stratify.bench.app_driver", str(self.logs / "spec.json"), str(out)],
                        self.logs / "driver.log")
        started = Path(spec["started_file"])
        try:
            self._watch(time.time() + 300, lambda: started.exists() or driver.poll() is not None)
            self.t0 = float(started.read_text(encoding="utf-8")) if started.exists() else time.time()
            if night_cmd is not None and self.night is None:
                self._watch(self.t0 + night_at, lambda: driver.poll() is not None)
                self._start_night(night_cmd)
            self._watch(self.t0 + max_seconds, lambda: driver.poll() is not None or self._done(seconds, follow_s))
            (self.logs / "stop").touch()
            driver.wait(timeout=120)
        finally:
            stop(driver)
        self.t1 = time.time()
        night = self.night
        if night is not None:
            self._watch(time.time() + NIGHT_TIMEOUT_S, lambda: night.poll() is not None)
            self.night_t1 = time.time()
        if driver.returncode != 0 or not out.exists():
            raise BenchError(f"the load driver failed (exit {driver.returncode}); see {self.logs / 'driver.log'}")
        return json.loads(out.read_text(encoding="utf-8"))

    def _start_night(self, cmd: list[str]) -> None:
        self.night, self.night_t0 = _spawn(cmd, self.logs / "night.log"), time.time()

    def _done(self, seconds: float, follow_s: float) -> bool:
        """`seconds` of load, and with a night: `follow_s` more after its switch, or the night over."""
        now = time.time()
        if now - self.t0 < seconds:
            return False
        if self.night is None:
            return True
        return ("at" in self.switch and now - self.switch["at"] >= follow_s) or self.night.poll() is not None

    def _at_stage(self, stage: str) -> bool:
        """The night is at `stage` (or past it: it switched `latest`, or ended)."""
        try:
            status = json.loads((self.out / "status.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            status = {}
        at = status.get("status") == "running" and status.get("stage") == stage
        return at or "at" in self.switch or (self.night is not None and self.night.poll() is not None)

    def _watch(self, until: float, stop_when: Callable[[], bool]) -> None:
        """Poll `<out>/latest` every 20 ms until `until` or `stop_when()`; note when it first changes, and to what."""
        while time.time() < until and not stop_when():
            if "at" not in self.switch:
                now = _latest(self.out)
                if now is not None and now != self.before:  # when the link was made, not when this noticed it
                    self.switch["at"], self.switch["run"] = _made_at(self.out / "latest"), now
            time.sleep(0.02)

    def stop_night(self) -> None:
        if self.night is not None and self.night.poll() is None:
            stop(self.night)

    def night_figures(self) -> dict[str, Any]:
        if self.night is None:
            return {"exit": None, "started_s": None, "seconds": None}
        log = self.logs / "night.log"
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-5:] if log.exists() else []
        done = self.night.poll() is not None and self.night_t1
        return {"exit": self.night.returncode, "started_s": round(self.night_t0 - self.t0, 2),
                "seconds": round(self.night_t1 - self.night_t0, 1) if done else None, "log": str(log),
                "log_tail": tail if self.night.returncode else []}


def ensure_place(people: int, work: Path, as_of: date, years: int, seed: int, place_extra: str) -> tuple[Path, bool]:
    """`work/place.yaml` with a published run of `people` people: reused, or built by the nightly benchmark."""
    config, marker = work / "place.yaml", work / f"{people}.json"
    sizes = sorted(int(p.stem) for p in work.glob("*.json") if p.stem.isdigit()) if work.is_dir() else []
    if config.exists() and sizes and _latest(work / "out") is not None:
        if people not in sizes:
            raise BenchError(f"{work} holds a place of {', '.join(f'{s:,}' for s in sizes)} people, not {people:,}: "
                             "give another --work or empty this one")
        return config, False
    if work.exists() and any(work.iterdir()) and not config.exists():
        raise BenchError(f"{work} is not empty and holds no benchmark place: give an empty or new --work")
    run_bench(people, as_of, years, seed, work, keep=True, results_dir=work, place_extra=place_extra)  # rebuilds work
    if not marker.exists():
        raise BenchError(f"building the place in {work} wrote no {marker.name}")
    return config, True


def ensure_accounts(config: Path, teams: tuple[str, ...], database: Path, n: int, work: Path) -> list[dict[str, str]]:
    """`n` app accounts spread over the teams (the first of each team its lead), made once per place.

    Their passwords are random and kept in `work/app_load_accounts.json`
    (owner-only), so a rerun signs in with the same accounts.
    """
    import secrets

    if not teams:
        raise BenchError("the place has no teams (neighbourhoods file) to give accounts to")
    path = work / ACCOUNTS_FILE
    known = {a["user"]: a for a in json.loads(path.read_text(encoding="utf-8"))} if path.exists() else {}
    wanted = []
    for i in range(n):
        team = teams[i % len(teams)]
        name = f"load-{i + 1:03d}"
        wanted.append(known.get(name) or {"user": name, "team": team, "password": secrets.token_urlsafe(18),
                                          "role": "team_lead" if i < len(teams) else "team_member"})
    fresh = not database.exists()  # no app database yet: nobody to ask about
    missing = [a for a in wanted if fresh or a["user"] not in known]  # the file says who was made before
    for batch in (missing[i:i + 6] for i in range(0, len(missing), 6)):  # each `stratify users` imports the app
        procs = [(a, _users(config, "add", a["user"], "--role", a["role"], "--team", a["team"])) for a in batch]
        for a, p in procs:
            _, err = p.communicate(a["password"] + "\n", timeout=600)
            if p.returncode != 0 and "already exists" in err:  # made by an earlier run whose file was lost
                p = _users(config, "reset", a["user"])
                _, err = p.communicate(a["password"] + "\n", timeout=600)
            if p.returncode != 0:
                raise BenchError(f"stratify users for {a['user']} failed: {err.strip()[-400:]}")
    merged = {**known, **{a["user"]: a for a in wanted}}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(list(merged.values()), fh, indent=1)
    return [{"user": a["user"], "password": a["password"], "team": a["team"]} for a in wanted]


def _users(config: Path, command: str, user: str, *more: str) -> subprocess.Popen:
    """`stratify users add|reset` for one account, waiting for its password on standard input."""
    return subprocess.Popen([*STRATIFY, "users", command, "--config", str(config), "--user", user, *more,
                             "--password-stdin"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def next_night(cfg: PlaceConfig, published_as_of: date) -> date:
    """The day after both the published run and every delivery already made (a failed night's stay archived)."""
    from stratify.contract import load_contract

    contract, last = load_contract(), published_as_of
    for folder in (cfg.landing, cfg.archive):
        for path in folder.rglob("*") if folder.is_dir() else ():
            name = contract.parse_file_name(path.name)
            if name is not None and name.source != "outcomes":  # the app's outcomes are dated by the day recorded
                last = max(last, name.delivery_date)
    return last + timedelta(days=1)


def published_runs(out: Path) -> dict[str, str]:
    """Each published run folder's data date (`as_of` of its manifest), by run id."""
    runs = {}
    for manifest in sorted((out / "runs").glob("*/manifest.json")):
        if not manifest.parent.name.startswith("."):
            runs[manifest.parent.name] = str(json.loads(manifest.read_text(encoding="utf-8"))["as_of"])
    return runs


def _latest(out: Path) -> str | None:
    try:
        return Path(os.readlink(out / "latest")).name
    except OSError:
        return None


def _made_at(link: Path) -> float:
    """When a symbolic link was made (its own mtime: `switch_latest` makes it, then renames it into place)."""
    try:
        return os.lstat(link).st_mtime
    except OSError:
        return time.time()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(cmd: list[str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as fh:  # one log per process and benchmark run
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def wait_ready(server: subprocess.Popen, port: int) -> float:
    """Seconds until the server answers `/login` with 200; BenchError if it dies or never does."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < READY_TIMEOUT_S:
        if server.poll() is not None:
            raise BenchError(f"stratify serve ended at start (exit {server.returncode})")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as r:
                if r.status == 200:
                    return round(time.perf_counter() - t0, 2)
        except OSError:
            pass
        time.sleep(0.25)
    raise BenchError(f"stratify serve did not answer on port {port} within {READY_TIMEOUT_S} s")


def warm_up(port: int, account: dict[str, str]) -> None:
    """Sign in as `account` and open its team's list once; BenchError if that fails."""
    import http.cookiejar
    import re
    from urllib.parse import urlencode

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    base = f"http://127.0.0.1:{port}"
    with opener.open(f"{base}/login", timeout=120) as r:
        token = re.search(r'name="csrf_token" value="([^"]+)"', r.read().decode("utf-8"))
    form = urlencode({"username": account["user"], "password": account["password"],
                      "csrf_token": token.group(1) if token else ""}).encode()
    try:
        with opener.open(f"{base}/login", data=form, timeout=120) as r:  # -> / -> the team's list
            page = r.read().decode("utf-8")
    except OSError as exc:
        raise BenchError(f"warming the server up as {account['user']} failed: {exc}") from None
    if f"Team {account['team']}" not in page:
        raise BenchError(f"warming the server up as {account['user']} did not reach team {account['team']}'s list")


def stop(proc: subprocess.Popen) -> int | None:
    """Stop a process this benchmark started, by its pid: SIGTERM, then SIGKILL after 15 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
    return proc.returncode


def _count(path: Path, word: str) -> int:
    return path.read_text(encoding="utf-8", errors="replace").count(word) if path.exists() else 0


__all__ = ["ensure_accounts", "ensure_place", "free_port", "published_runs", "report_app", "run_app_load", "stop",
           "wait_ready"]
