"""One run at a time per place, across processes (issue 7, item 3).

A real child process (killer.py `hold`) opens a night and holds it, lock and
all, at discovery. While it holds:

- a second `stratify run`, a real process, is refused at once (exit 4) with a
  message naming the active run; it touches nothing: not the published lists,
  not the status file (the active run's), not landing, not the warehouse;
- a second run opened the way an Airflow task opens one (`start_run` with a
  run id of its own) is refused the same way.

Then either the holder is let go and publishes, after which a new run may
start, or it is SIGKILLed, and the next run finds the stale lock, closes the
killed run as failed and equals a clean run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import HERE, NIGHT2, PROJECT, deliver_night2, lists_state, published_tree, quiet_run, raw_state, run_status

from stratify.config import PlaceConfig
from stratify.run.lock import lock_path

pytestmark = pytest.mark.slow


def hold(cfg: PlaceConfig) -> tuple[subprocess.Popen, str]:
    """Start a night in a child process that holds its run at discovery; (process, its run id)."""
    proc = subprocess.Popen([sys.executable, str(HERE / "killer.py"), str(cfg.path), NIGHT2.isoformat(), "hold"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT)
    ready = cfg.path.parent / "hold.ready"
    deadline = time.monotonic() + 90
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the holding run never reached discovery"
        time.sleep(0.05)
    return proc, ready.read_text()


def landing_files(cfg: PlaceConfig) -> list[str]:
    return sorted(str(p.relative_to(cfg.landing)) for p in cfg.landing.rglob("*") if p.is_file())


def second_cli_run(cfg: PlaceConfig) -> tuple[subprocess.CompletedProcess, float]:
    """`stratify run` of the same place and night as a real process; (result, seconds it took)."""
    t0 = time.monotonic()
    proc = subprocess.run([str(Path(sys.executable).with_name("stratify")), "run", "--config", str(cfg.path),
                           "--as-of", NIGHT2.isoformat()], capture_output=True, text=True, timeout=60, cwd=PROJECT)
    return proc, time.monotonic() - t0


def test_a_second_run_is_refused_at_once_naming_the_active_run(place, clean_night2):
    from stratify.run.audit import start_run
    from stratify.run.lock import RunLocked

    cfg = place
    before = published_tree(cfg)
    deliver_night2(cfg)
    waiting = landing_files(cfg)
    holder, active = hold(cfg)
    try:
        status_before = (cfg.out / "status.json").read_text(encoding="utf-8")
        assert json.loads(status_before)["run_id"] == active
        runs_before = run_status(cfg)

        refused, seconds = second_cli_run(cfg)
        assert refused.returncode == 4, (refused.returncode, refused.stderr)
        assert active in refused.stderr and "active" in refused.stderr, refused.stderr
        assert seconds < 30, seconds  # refused, not queued behind the active run (generous: a busy CI machine)

        with pytest.raises(RunLocked, match=active):  # an Airflow DAG run's start_run is refused the same way
            start_run(cfg, NIGHT2, run_id=f"{NIGHT2:%Y%m%d}-afsecondrun01")

        assert (cfg.out / "status.json").read_text(encoding="utf-8") == status_before  # still the active run's
        assert published_tree(cfg) == before
        assert landing_files(cfg) == waiting
        assert run_status(cfg) == runs_before  # no row for the refused runs
        assert json.loads(lock_path(cfg).read_text(encoding="utf-8"))["run_id"] == active
    finally:
        (cfg.path.parent / "hold.go").write_text("go")
        out, err = holder.communicate(timeout=120)
    assert holder.returncode == 0 and out.strip().endswith("published"), (holder.returncode, out, err[-3000:])
    assert not lock_path(cfg).exists()  # released when the run closed
    assert raw_state(cfg) == clean_night2["raw"]
    assert lists_state(cfg) == lists_state(clean_night2["cfg"])
    assert [(r[0], r[2]) for r in run_status(cfg) if r[0] == active] == [(active, "published")]
    # With the lock released, the next run is not refused (it finds nothing new to load).
    assert quiet_run(cfg, NIGHT2)["status"] == "published"


def test_the_lock_of_a_killed_run_is_cleared_and_the_next_run_equals_a_clean_one(place, clean_night2):
    cfg = place
    before = published_tree(cfg)
    deliver_night2(cfg)
    holder, killed = hold(cfg)
    os.kill(holder.pid, signal.SIGKILL)
    holder.communicate(timeout=30)
    assert lock_path(cfg).exists()  # left behind: no cleanup after SIGKILL
    assert published_tree(cfg) == before

    result = quiet_run(cfg, NIGHT2)
    assert result["status"] == "published", result
    assert raw_state(cfg) == clean_night2["raw"]
    assert lists_state(cfg) == lists_state(clean_night2["cfg"])
    rows = {r[0]: r for r in run_status(cfg)}
    assert rows[killed][2] == "failed" and "interrupted" in rows[killed][3], rows[killed]
    assert not lock_path(cfg).exists()
