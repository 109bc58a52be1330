"""The audit trail: runs, publications and the access log, for information-governance staff.

Deliveries and validation results are written by `ingest` and `validate`;
this module opens and closes runs (with the place's run lock, see
`stratify.run.lock`, and the status file, see `stratify.run.status`), closes runs
whose process was killed, records what was published and who saw what, and
answers "what happened on night X".
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

from stratify.config import PlaceConfig
from stratify.errors import WarehouseError
from stratify.files.durable import sha256_file
from stratify.files.permissions import restrict_place, tighten_umask
from stratify.run import lock as runlock
from stratify.run.context import RunContext, latest_link, run_dir, staging_dir
from stratify.run.lock import describe
from stratify.run.status import explain_failure, write_status
from stratify.warehouse.connect import connect
from stratify.warehouse.sql import fetch_one

log = logging.getLogger(__name__)
RUN_STATUSES = ("running", "published", "held", "failed")


def now_utc() -> datetime:
    return datetime.now(UTC)


def start_run(cfg: PlaceConfig, as_of: date, run_id: str | None = None) -> RunContext:
    """Open a run: take the place's run lock, a `runs` row with status `running`, an empty staging folder.

    A caller that may retry (an Airflow task) passes a `run_id` of its own:
    opening the same run again while it is still running returns it instead
    of starting a second one. Another run of the place that is still active
    makes this raise `RunLocked` at once, naming that run; one that was
    killed (its lock is stale, see `stratify.run.lock`) is closed first by
    `recover_interrupted_run`, so tonight's run starts from a clean state.
    `as_of` is fixed here, once: every stage reads it from the context, never
    from the clock, so a run that crosses midnight or a clock change keeps it.
    """
    tighten_umask()  # nothing the night creates is for others to read, whatever the caller's umask
    ctx = RunContext(run_id, cfg.place, as_of) if run_id else RunContext.new(cfg, as_of)
    taken = False
    try:
        check_writable(cfg.out)
        taken, stale = runlock.acquire(cfg, ctx.run_id, as_of, spans_processes=run_id is not None,
                                       run_status=lambda rid: _run_status(cfg, rid))
        if stale:
            recover_interrupted_run(cfg, stale, ctx.run_id)
        for orphan in unclosed_runs(cfg, ctx.run_id):
            recover_interrupted_run(cfg, orphan, ctx.run_id)
        with connect(cfg) as con:
            row = fetch_one(con, "SELECT status, as_of FROM runs WHERE run_id = $1", [ctx.run_id])
            if row is not None and (row[0] != "running" or row[1] != as_of):
                raise ValueError(f"run {ctx.run_id} already exists (status {row[0]}, as of {row[1]}); start a new run")
            if row is None:
                con.execute(
                    "INSERT INTO runs (run_id, place, as_of, started_at, status) VALUES ($1, $2, $3, $4, 'running')",
                    [ctx.run_id, cfg.place, as_of, now_utc()],
                )
        staging_dir(cfg, ctx).mkdir(mode=0o750, parents=True, exist_ok=True)
    except BaseException as exc:
        if taken:
            runlock.release(cfg, ctx.run_id)
        if not isinstance(exc, runlock.RunLocked):  # the active run owns the status file
            message, action = explain_failure(cfg, exc, "start")
            write_status(cfg, ctx.run_id, as_of, "failed", "start", message, action)
        raise
    write_status(cfg, ctx.run_id, as_of, "running", "start")
    return ctx


def unclosed_runs(cfg: PlaceConfig, run_id: str) -> list[dict]:
    """Runs still `running` in the warehouse although this run holds the lock: their end was never recorded.

    A run that failed while the warehouse could not be written (a full disk)
    released its lock but could not close its `runs` row, nor hand back the
    deliveries it archived without loading; holding the lock now, we know it
    is not running, so it is closed like a killed run.
    """
    with connect(cfg) as con:
        rows = con.execute("SELECT run_id, as_of, CAST(started_at AS VARCHAR) FROM runs "
                           "WHERE status = 'running' AND run_id <> $1 "
                           "ORDER BY started_at", [run_id]).fetchall()
    return [{"run_id": rid, "as_of": as_of.isoformat(), "started_at": str(started), "pid": "unknown",
             "host": "unknown", "stale_because": "its lock was released but its end was never recorded "
                                                 "(the warehouse could not be written when it failed)"}
            for rid, as_of, started in rows]


def check_writable(folder: Path) -> None:
    """Refuse to start a run whose output folder cannot be written, before anything else is touched."""
    probe = folder / "runs" / f".write-check-{os.getpid()}"
    try:
        probe.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise PermissionError(
                exc.errno, f"the output folder {folder} is not writable ({exc.strerror}): make it writable by the "
                           "user that runs stratify; the last good lists stay published", str(folder)) from exc
        raise


def _run_status(cfg: PlaceConfig, run_id: str) -> str | None:
    """The recorded status of a run, None if unknown (no row, or the warehouse cannot be read now)."""
    try:
        with connect(cfg) as con:
            row = fetch_one(con, "SELECT status FROM runs WHERE run_id = $1", [run_id])
    except WarehouseError:
        return None
    return row[0] if row else None


def finish_run(cfg: PlaceConfig, ctx: RunContext, status: str, message: str = "", stage: str = "",
               action: str = "") -> dict:
    """Close a run with its final status, release the run lock and write `<out>/status.json`.

    A run already closed keeps its first status. A failed run hands back the
    deliveries it accepted but did not load (`return_unloaded_deliveries`) so
    that the next run loads them. The lock is released and the status file
    written even when the warehouse cannot be written (that error is raised).
    """
    if status not in RUN_STATUSES[1:]:
        raise ValueError(f"finish_run: status must be one of {RUN_STATUSES[1:]}, got {status!r}")
    try:
        with connect(cfg) as con:
            con.execute(
                "UPDATE runs SET status = $1, message = $2, finished_at = $3 WHERE run_id = $4 AND status = 'running'",
                [status, message or None, now_utc(), ctx.run_id],
            )
            row = fetch_one(con, "SELECT status, message FROM runs WHERE run_id = $1", [ctx.run_id])
        if row is None:
            raise LookupError(f"run {ctx.run_id} is not in the warehouse {cfg.warehouse}")
        if row[0] == "failed":
            return_unloaded_deliveries(cfg, ctx.run_id)
    finally:
        runlock.release(cfg, ctx.run_id)
        write_status(cfg, ctx.run_id, ctx.as_of, status, stage or ("" if status == "failed" else "finish"),
                     message, action, warnings=published_warnings(cfg, ctx) if status == "published" else None)
        restrict_place(cfg)  # the last pass: every folder 0o750, every file 0o640, whatever the umask
    return {"run_id": ctx.run_id, "status": row[0], "message": row[1]}


def published_warnings(cfg: PlaceConfig, ctx: RunContext) -> list[str]:
    """The warnings a published run's stages recorded (its manifest's stage summaries), in stage order."""
    try:
        manifest = json.loads((run_dir(cfg, ctx) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [w for s in manifest.get("stages", {}).values() if isinstance(s, dict) for w in s.get("warnings", [])]


def return_unloaded_deliveries(cfg: PlaceConfig, run_id: str) -> list[str]:
    """Put back into landing the files a failed run accepted and archived but did not load.

    `load` archives a file just before its load transaction commits; when the
    run dies between the two, the rows are not in the warehouse but the file
    has left the landing folder, and no later run would see it. A copy (via
    `<name>.part`, which discovery skips) goes back; the archived file stays.
    """
    with connect(cfg) as con:
        rows = con.execute(
            "SELECT source, file_name, sha256 FROM deliveries WHERE run_id = $1 "
            "AND decision IN ('accepted', 'accepted_with_warnings') AND loaded_at IS NULL AND source IS NOT NULL",
            [run_id],
        ).fetchall()
    returned = []
    for source, name, digest in rows:
        target = cfg.landing / source / name
        if target.exists():
            continue
        stem, _, suffix = name.partition(".")
        folder = cfg.archive / source
        candidates = [folder / name, *sorted(folder.glob(f"{stem}.*.{suffix}"))] if folder.is_dir() else []
        found = next((c for c in candidates if c.is_file() and sha256_file(c) == digest), None)
        if found is None:
            log.warning("run %s: accepted delivery %s/%s is neither in landing nor in the archive", run_id, source, name)
            continue
        part = target.with_name(target.name + ".part")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(found, part)
        os.replace(part, target)
        returned.append(f"{source}/{name}")
    if returned:
        log.warning("run %s failed before loading %s; returned to the landing folder for the next run",
                    run_id, ", ".join(returned))
    return returned


def recover_interrupted_run(cfg: PlaceConfig, holder: dict, by_run_id: str) -> dict:
    """Close a run whose process was killed (its lock was stale), so that nothing it half did remains.

    - `latest` points at its run folder: the publication completed (the
      publication rows are written before the switch), so it is `published`.
    - Otherwise it is `failed`: a run folder renamed but never switched to goes
      back to `.staging-<run_id>`; its `publications` and `list_history` rows
      (written just before the switch) are removed; deliveries it accepted but
      did not load go back to landing.
    Its `runs` row gets a message saying what happened and which run closed it.
    """
    rid = holder["run_id"]
    why = holder.get("stale_because", "its process ended")
    ctx = RunContext(rid, cfg.place, date.fromisoformat(holder["as_of"]))
    folder, link = run_dir(cfg, ctx), latest_link(cfg)
    published = link.is_symlink() and Path(os.readlink(link)).name == rid and folder.is_dir()
    if not published and folder.is_dir() and not staging_dir(cfg, ctx).exists():
        folder.rename(staging_dir(cfg, ctx))
    status = "published" if published else "failed"
    message = (f"interrupted: {describe(holder)} stopped before closing the run ({why}); "
               f"closed as {status} by run {by_run_id} at {now_utc():%Y-%m-%d %H:%M:%S} UTC")
    with connect(cfg) as con:
        con.begin()
        if not published:
            con.execute("DELETE FROM publications WHERE run_id = $1", [rid])
            con.execute("DELETE FROM list_history WHERE run_id = $1", [rid])
        con.execute("UPDATE runs SET status = $1, message = $2, finished_at = $3 WHERE run_id = $4 "
                    "AND status = 'running'", [status, message, now_utc(), rid])
        con.commit()
    returned = [] if published else return_unloaded_deliveries(cfg, rid)
    log.warning("%s", message)
    return {"run_id": rid, "status": status, "message": message, "returned": returned}


def set_model_version(cfg: PlaceConfig, ctx: RunContext, version: str) -> None:
    with connect(cfg) as con:
        con.execute("UPDATE runs SET model_version = $1 WHERE run_id = $2", [version, ctx.run_id])


def record_publications(cfg: PlaceConfig, ctx: RunContext, files: list[dict]) -> None:
    """One `publications` row per written file: path (relative to the run folder), rows, sha256.

    Replaces any rows of the same run, so a retried publish records each file once.
    """
    at = now_utc()
    with connect(cfg) as con:
        con.begin()
        con.execute("DELETE FROM publications WHERE run_id = $1", [ctx.run_id])
        con.executemany(
            "INSERT INTO publications (run_id, team, path, rows, sha256, published_at) VALUES ($1, $2, $3, $4, $5, $6)",
            [[ctx.run_id, f.get("team"), f["path"], f.get("rows"), f["sha256"], at] for f in files],
        )
        con.commit()


def forget_publication(cfg: PlaceConfig, ctx: RunContext) -> None:
    """Remove a run's `publications` and `list_history` rows: its switch of `latest` did not happen."""
    with connect(cfg) as con:
        con.begin()
        con.execute("DELETE FROM publications WHERE run_id = $1", [ctx.run_id])
        con.execute("DELETE FROM list_history WHERE run_id = $1", [ctx.run_id])
        con.commit()


def log_access(cfg: PlaceConfig, user: str, action: str, target: str | Path, reason: str, n_people: int | None) -> None:
    """Record who did what to which list or lookup, when and why (for IG audit)."""
    if not user.strip() or not reason.strip():
        raise ValueError("access must be logged with a user name and a reason")
    with connect(cfg) as con:
        con.execute(
            "INSERT INTO access_log (accessed_at, user_name, action, target, reason, n_people) VALUES ($1, $2, $3, $4, $5, $6)",
            [now_utc(), user, action, str(target), reason, n_people],
        )
