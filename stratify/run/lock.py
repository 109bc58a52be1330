"""One run at a time per place, across processes: a lock file beside the warehouse.

DuckDB locks the warehouse file only while a connection is open, and a run
opens and closes many; two runs of one place could interleave their stages
and publish each other's half-built lists. So `start_run` takes this lock and
`finish_run` releases it. The lock is `<warehouse>.run.lock`, a small JSON
file `{run_id, as_of, pid, host, proc_started, started_at, spans_processes}`,
created whole in one step (written to a temporary name, then `os.link`ed to
the lock's name, which fails if the lock exists), so a reader never sees half
a lock. The check-then-clear of a stale lock is serialised with `flock` on
`<lock>.guard`, so two runs starting together cannot both clear it.

Who may proceed when the lock exists:

- the same `run_id`: yes (an Airflow retry of `start_run`, or any later task
  of the same DAG run, reopens the run it belongs to);
- another run: refused at once (`RunLocked`, naming the active run, its
  process, host and start time), unless the lock is stale.

When a lock is stale (the rule; `stale_reason`):

- A run that lives in one process (`stratify run`: `spans_processes` false)
  is stale as soon as that process is gone from this host (its pid is not
  running, or is running but started at another time: a reused pid).
- A run that spans processes (an Airflow DAG run: each task is its own
  process, so a dead pid means nothing) is stale when its recorded process is
  gone AND either its `runs` row is no longer `running` (it was closed but the
  lock was not released) or it started more than `STALE_AFTER` ago (longer
  than the DAG's `dagrun_timeout`, so Airflow has given up on it).
- A lock taken on another host is judged only by the `runs` row and age: its
  pid cannot be checked from here.
- A lock held by this very process is stale: one process runs one run at a
  time, so a new `start_run` means it abandoned the earlier one unclosed.

The caller (`stratify.run.audit.start_run`) clears a stale lock, takes its own,
and then closes the interrupted run in the warehouse (`recover_interrupted_run`).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

from stratify.config import PlaceConfig
from stratify.files.durable import write_synced

# Longer than the nightly DAG's dagrun_timeout (8 hours): past this, Airflow has stopped the run.
STALE_AFTER = timedelta(hours=10)


from stratify.errors import RunLocked  # noqa: E402,F401 (raised here; defined with stratify's other errors)


def lock_path(cfg: PlaceConfig) -> Path:
    """`<warehouse>.run.lock`: one per warehouse, i.e. per place."""
    return cfg.warehouse.with_name(cfg.warehouse.name + ".run.lock")


def _process_started(pid: int) -> float | None:
    """When process `pid` started (epoch seconds), None if it is not running."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, ValueError):
        return None


def holder_alive(holder: dict) -> bool | None:
    """Is the lock holder's process still running? None when it ran on another host (cannot tell)."""
    if holder.get("host") != socket.gethostname():
        return None
    started = _process_started(int(holder.get("pid") or 0)) if holder.get("pid") else None
    if started is None:
        return False
    recorded = holder.get("proc_started")
    return recorded is None or abs(float(recorded) - started) < 1.0  # same pid, other start time: pid reused


def read_holder(path: Path) -> dict | None:
    """The lock's content, None if there is no lock; an unreadable lock reads as an empty holder (stale)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return holder if isinstance(holder, dict) else {}


def stale_reason(holder: dict, run_status: Callable[[str], str | None], now: datetime | None = None) -> str | None:
    """Why the lock `holder` is stale, or None while its run may still be active (rule in the module doc)."""
    if not holder.get("run_id"):
        return "the lock file is empty or unreadable"
    if holder.get("host") == socket.gethostname() and holder.get("pid") == os.getpid():
        return "this same process opened it and moved on to a new run without closing it"
    alive = holder_alive(holder)
    if alive:
        return None
    now = now or datetime.now(UTC)
    try:
        age = now - datetime.fromisoformat(holder["started_at"])
    except (KeyError, TypeError, ValueError):
        age = STALE_AFTER * 2
    where = f"process {holder.get('pid')} on {holder.get('host')}"
    if alive is False and not holder.get("spans_processes"):
        return f"{where} is no longer running (killed or crashed)"
    status = run_status(holder["run_id"])
    if status is not None and status != "running":
        return f"{where} has ended and the run is recorded as {status}"
    if age > STALE_AFTER:
        return f"it was taken {age.total_seconds() / 3600:.1f} hours ago (more than {STALE_AFTER.total_seconds() / 3600:.0f})"
    return None


@contextmanager
def _guard(path: Path) -> Iterator[None]:
    """Serialise lock inspection and takeover between processes on this host."""
    guard = path.with_name(path.name + ".guard")
    fd = os.open(guard, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _create(path: Path, holder: dict) -> None:
    """Create the lock whole, or raise FileExistsError: written under a temporary name, then hard-linked."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    write_synced(tmp, json.dumps(holder, indent=1).encode("utf-8"))
    try:
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def describe(holder: dict) -> str:
    """`run R (as of D), process P on H, started T` for messages."""
    return (f"run {holder.get('run_id')} (as of {holder.get('as_of')}), process {holder.get('pid')} on "
            f"{holder.get('host')}, started {holder.get('started_at')}")


def acquire(cfg: PlaceConfig, run_id: str, as_of, spans_processes: bool,
            run_status: Callable[[str], str | None]) -> tuple[bool, dict | None]:
    """Take the place's run lock for `run_id`.

    Returns (taken_now, cleared): `taken_now` is False when `run_id` already
    held it (a retry); `cleared` is the stale holder removed to take it, for
    the caller to close that run. Raises `RunLocked` while another run is active.
    """
    path = lock_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = {"run_id": run_id, "as_of": str(as_of), "pid": os.getpid(), "host": socket.gethostname(),
            "proc_started": _process_started(os.getpid()), "started_at": datetime.now(UTC).isoformat(),
            "spans_processes": spans_processes}
    with _guard(path):
        holder = read_holder(path)
        if holder is not None and holder.get("run_id") == run_id:
            return False, None
        cleared = None
        if holder is not None:
            why = stale_reason(holder, run_status)
            if why is None:
                raise RunLocked(
                    f"another run of place {cfg.place} is active: {describe(holder)}. Wait for it to finish "
                    f"(one run at a time per place). If you are sure it is not running, remove {path}.", holder)
            cleared = {**holder, "stale_because": why}
            path.unlink()
        _create(path, mine)
        return True, cleared


def release(cfg: PlaceConfig, run_id: str) -> bool:
    """Remove the lock if `run_id` holds it; True if removed."""
    path = lock_path(cfg)
    if not path.parent.exists():
        return False
    with _guard(path):
        holder = read_holder(path)
        if holder is None or holder.get("run_id") != run_id:
            return False
        path.unlink()
        return True


def current_holder(cfg: PlaceConfig) -> dict | None:
    """Who holds the lock now (for status and messages), None if nobody."""
    return read_holder(lock_path(cfg))
