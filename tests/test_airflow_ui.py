"""`make airflow` starts a working Airflow: a run triggered through the REST API succeeds and publishes.

The test starts Airflow the way the README says (the Makefile target), with
its own AIRFLOW_HOME and a free port, on a small synthetic place; gets a token
from `/auth/token`, unpauses and triggers `nightly_stratification` through
`/api/v2`, waits for the run, and checks the place's lists were published. It
stops everything it started: the whole process group it started `make` in,
then any process still carrying its AIRFLOW_HOME (a task runner may have left
the group), each by its id.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DAG_ID = "nightly_stratification"
AS_OF = date(2026, 11, 20)
START_TIMEOUT_S = 420
RUN_TIMEOUT_S = 600

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _small_place(root: Path) -> Path:
    from stratify.config import load_config
    from stratify.synth.generate import synthesize

    root.mkdir()
    path = root / "place.yaml"
    path.write_text("place: ui\nlanding: landing\nwarehouse: ui.duckdb\nout: out\nneighbourhoods: neighbourhoods.csv\n"
                    "capacity:\n  default: 20\n", encoding="utf-8")
    synthesize(load_config(path), 1500, AS_OF, years=3, seed=11)
    return path


def _processes_with(marker: str) -> list[int]:
    """Ids of this user's processes whose environment names `marker` (our AIRFLOW_HOME)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _stop(proc: subprocess.Popen, airflow_home: Path) -> list[int]:
    """Stop the process group, then stragglers carrying our AIRFLOW_HOME; returns those still alive."""
    for sig, wait in ((signal.SIGINT, 30), (signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    marker = f"AIRFLOW_HOME={airflow_home}\0"
    deadline = time.monotonic() + 20
    while (left := _processes_with(marker)) and time.monotonic() < deadline:
        for pid in left:
            try:
                os.kill(pid, signal.SIGTERM if time.monotonic() < deadline - 10 else signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(1)
    return _processes_with(marker)


def _wait(what: str, check, timeout: float, log: Path, interval: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(interval)
    tail = log.read_text(encoding="utf-8", errors="replace")[-4000:] if log.exists() else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; make airflow's output ends:\n{tail}")


def test_make_airflow_runs_the_nightly_dag_triggered_through_the_rest_api(tmp_path):
    place = _small_place(tmp_path / "place")
    airflow_home = tmp_path / "airflow_home"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    venv = Path(sys.prefix)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != "STRATIFY_CONFIG"}
    # Only the run this test triggers: no scheduled run for last night's 02:00 once the DAG is unpaused.
    env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "False"
    log = tmp_path / "make-airflow.log"
    # -o: the running venv is taken as installed (make must not reinstall it from this checkout).
    command = ["make", "--no-print-directory", "-C", str(PROJECT_ROOT), "-o", f"{venv}/.installed", "airflow",
               f"VENV={venv}", f"AIRFLOW_HOME_DIR={airflow_home}", f"AIRFLOW_PORT={port}", f"DEMO_CONFIG={place}"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        _wait("the API server", lambda: httpx.get(f"{base}/api/v2/monitor/health", timeout=5).status_code == 200,
              START_TIMEOUT_S, log)
        passwords = airflow_home / "simple_auth_manager_passwords.json.generated"
        password = _wait("the admin password", lambda: passwords.exists() and json.loads(passwords.read_text())["admin"],
                         60, log)
        token = httpx.post(f"{base}/auth/token", json={"username": "admin", "password": password}, timeout=30)
        assert token.status_code in (200, 201), token.text
        api = httpx.Client(base_url=f"{base}/api/v2", timeout=30,
                           headers={"Authorization": f"Bearer {token.json()['access_token']}"})

        def healthy() -> bool:
            health = api.get("/monitor/health").json()
            return all(health.get(part, {}).get("status") == "healthy" for part in ("scheduler", "dag_processor"))

        _wait("the scheduler and DAG processor", healthy, START_TIMEOUT_S, log)
        _wait(f"the DAG {DAG_ID} to be parsed", lambda: api.get(f"/dags/{DAG_ID}").status_code == 200,
              START_TIMEOUT_S, log)
        assert api.patch(f"/dags/{DAG_ID}", json={"is_paused": False}).status_code == 200
        trigger = api.post(f"/dags/{DAG_ID}/dagRuns",
                           json={"logical_date": None, "conf": {"config": str(place), "as_of": AS_OF.isoformat()}})
        assert trigger.status_code == 200, trigger.text
        run_id = trigger.json()["dag_run_id"]

        def finished() -> str | None:
            state = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}").json()["state"]
            return state if state in ("success", "failed") else None

        state = _wait(f"the run {run_id}", finished, RUN_TIMEOUT_S, log, interval=5)
        if state != "success":
            tasks = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
            pytest.fail(f"the run {run_id} {state}: " + ", ".join(f"{t['task_id']}={t['state']}" for t in tasks))
    finally:
        left = _stop(proc, airflow_home)
    assert left == [], f"processes still running after the stop: {left}"

    out = place.parent / "out"
    status = json.loads((out / "status.json").read_text(encoding="utf-8"))
    assert status["status"] == "published" and status["as_of"] == AS_OF.isoformat(), status
    lists = sorted((out / "latest" / "lists").glob("*.csv"))
    assert lists and all(p.read_text(encoding="utf-8").startswith("rank,person_id,") for p in lists)
    assert json.loads((out / "latest" / "manifest.json").read_text(encoding="utf-8"))["run_id"] == status["run_id"]
