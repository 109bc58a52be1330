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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from stratify.bench.app_figures import figures_from, report_app
from stratify.bench.measure import BenchError, run_step
from stratify.bench.run import _commit, _machine, run_bench

STRATIFY = [sys.executable, "-m", "stratify.cli"]
ACCOUNTS_FILE = "app_load_accounts.json"
READY_TIMEOUT_S = 180  # the server imports the app (and Great Expectations through it) on a busy machine
NIGHT_TIMEOUT_S = 1800


def run_app_load(people: int, work: Path, users: int = 50, seconds: float = 60.0, as_of: date = date(2026, 11, 20),
                 years: int = 3, seed: int = 0, think_s: tuple[float, float] = (1.0, 3.0), night_at: float | None = 5.0,
                 spawn_rate: float = 10.0, place_extra: str = "") -> dict[str, Any]:
    """Build or reuse the place, start the server, run the load and the night; the figures (also as JSON)."""
    from stratify.config import load_config

    work = Path(work).resolve()
    t_build = time.perf_counter()
    config, built = ensure_place(people, work, as_of, years, seed, place_extra)
    cfg = load_config(config)
    figures: dict[str, Any] = {
        "people": people, "users": users, "seconds": seconds, "think_s": list(think_s), "night_at_s": night_at,
        "spawn_rate": spawn_rate, "work": str(work), "place_built": built, "commit": _commit(),
        "machine": _machine(), "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    accounts = ensure_accounts(config, cfg.teams, cfg.app_database, users, work)
    before = published_runs(cfg.out)
    latest_before = _latest(cfg.out)
    night = date.fromisoformat(before[latest_before]) + timedelta(days=1)
    if night_at is not None:
        run_step({"op": "synth_day", "config": str(config), "seed": seed, "day": night.isoformat()}, work)
    figures["setup_s"] = round(time.perf_counter() - t_build, 1)
    figures["run_before"], figures["night_as_of"] = latest_before, night.isoformat()
    logs = work / "app_load"
    logs.mkdir(exist_ok=True)
    port = free_port()
    server = _spawn([*STRATIFY, "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
                    logs / "serve.log")
    night_proc: subprocess.Popen | None = None
    try:
        figures["server"] = {"pid": server.pid, "port": port, "ready_s": wait_ready(server, port)}
        spec = {"host": f"http://127.0.0.1:{port}", "accounts": accounts, "seconds": seconds,
                "think_s": list(think_s), "spawn_rate": spawn_rate}
        (logs / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        os.chmod(logs / "spec.json", 0o600)  # it holds the accounts' passwords
        out = logs / "driver.json"
        out.unlink(missing_ok=True)
        night_cmd = [*STRATIFY, "run", "--config", str(config), "--as-of", night.isoformat()]
        switch: dict[str, Any] = {}
        if night_at is not None and night_at < 0:
            night_proc, night_t0 = _spawn(night_cmd, logs / "night.log"), time.time()
            _watch(cfg.out, latest_before, switch, until=time.time() - night_at, stop=lambda: False)
        driver = _spawn([sys.executable, "-m", "stratify.bench.app_driver", str(logs / "spec.json"), str(out)],
                        logs / "driver.log")
        load_t0 = time.time()
        if night_proc is None and night_at is not None:
            _watch(cfg.out, latest_before, switch, until=load_t0 + night_at, stop=lambda: driver.poll() is not None)
            if driver.poll() is None:
                night_proc, night_t0 = _spawn(night_cmd, logs / "night.log"), time.time()
        _watch(cfg.out, latest_before, switch, until=float("inf"), stop=lambda: driver.poll() is not None)
        load_t1 = time.time()
        if night_proc is None:  # no night asked for, or the load ended before it was due
            figures["night"] = {"exit": None, "started_s": None, "seconds": None}
        else:
            running = night_proc
            _watch(cfg.out, latest_before, switch, until=time.time() + NIGHT_TIMEOUT_S,
                   stop=lambda: running.poll() is not None)
            figures["night"] = _night_figures(night_proc, night_t0, load_t0, logs / "night.log")
        if driver.returncode != 0 or not out.exists():
            raise BenchError(f"the load driver failed (exit {driver.returncode}); see {logs / 'driver.log'}")
        driven = json.loads(out.read_text(encoding="utf-8"))
    finally:
        figures.setdefault("server", {})["exit"] = stop(server)
        if night_proc is not None and night_proc.poll() is None:  # only on an error above: never leave it running
            stop(night_proc)
    figures["server"]["tracebacks"] = _count(logs / "serve.log", "Traceback")
    figures.update(figures_from(driven, published_runs(cfg.out), latest_before, switch.get("run"),
                                switch.get("at"), load_t0, load_t1))
    figures["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = work / f"app_load-{stamp}.json"
    path.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    figures["results_file"] = str(path)
    return figures


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


def _watch(out: Path, before: str | None, switch: dict[str, Any], until: float, stop) -> None:
    """Poll `<out>/latest` every 20 ms until `until` or `stop()`; note when it first changes (and to what)."""
    while time.time() < until and not stop():
        if "at" not in switch:
            now = _latest(out)
            if now is not None and now != before:
                switch["at"], switch["run"] = time.time(), now
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(cmd: list[str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as fh:
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


def _night_figures(proc: subprocess.Popen, t0: float, load_t0: float, log: Path) -> dict[str, Any]:
    done = proc.poll() is not None
    tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-5:] if log.exists() else []
    return {"exit": proc.returncode if done else None, "started_s": round(t0 - load_t0, 2),
            "seconds": round(time.time() - t0, 1) if done else None, "log": str(log),
            "log_tail": tail if proc.returncode else []}


def _count(path: Path, word: str) -> int:
    return path.read_text(encoding="utf-8", errors="replace").count(word) if path.exists() else 0


__all__ = ["ensure_accounts", "ensure_place", "free_port", "published_runs", "report_app", "run_app_load", "stop",
           "wait_ready"]
