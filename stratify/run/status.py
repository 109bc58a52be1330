"""`<out>/status.json`: the place's last run, for monitoring tools and people.

Written atomically (a temporary file in the same folder, fsynced, then
`os.replace`d) when a run starts, at each stage, and when it finishes or
fails, so a reader sees either the old or the new file, never half of one.
It never depends on the warehouse: the last good run is read from `latest`'s
manifest, so the file can still be written when the warehouse is broken.

Fields: `place`, `run_id`, `as_of`, `status` (`running`, `published`,
`held`, `failed`), `stage` (the stage running or failed), `message` (what
happened), `action` (what to do), `updated_at`, `pid`, `host`, and
`last_good` (`run_id`, `as_of`, `published_at` of what `latest` shows now;
null before the first publication); after a failed Airflow task also
`delivery` (the delivery file the failure names, if any) and `airflow`
(`dag_id`, `run_id`, `task_id`, `map_index`, `try_number`). A monitoring tool alerts when `status`
is `failed` or `held`, or `running` with an `updated_at` older than a few hours.

`explain_failure` turns an exception into that message and action, naming
the file, key or run concerned, for the status file, the CLI and Airflow.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

from stratify.config import PlaceConfig
from stratify.files.durable import write_synced

log = logging.getLogger(__name__)
STATUS_FILE = "status.json"


def status_path(cfg: PlaceConfig) -> Path:
    return cfg.out / STATUS_FILE


def last_good(cfg: PlaceConfig) -> dict | None:
    """What `latest` shows now (from its manifest), None before the first publication."""
    manifest = cfg.out / "latest" / "manifest.json"
    try:
        m = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {"run_id": m.get("run_id"), "as_of": m.get("as_of"), "published_at": m.get("published_at")}


def write_status(cfg: PlaceConfig, run_id: str | None, as_of, status: str, stage: str = "",
                 message: str = "", action: str = "", delivery: str | None = None,
                 airflow: dict | None = None, warnings: list[str] | None = None) -> Path | None:
    """Replace `<out>/status.json` in one step; never raises (a full disk must not hide the run's own error).

    `delivery` (the file a failure names), `airflow` (the Airflow run id,
    task, map index and try of a failed task) and `warnings` (of a published
    run: never a hold) are written only when given.
    """
    body = {
        "place": cfg.place, "run_id": run_id, "as_of": str(as_of) if as_of else None, "status": status,
        "stage": stage or None, "message": message or None, "action": action or None,
        "updated_at": datetime.now(UTC).isoformat(), "pid": os.getpid(), "host": socket.gethostname(),
        "last_good": last_good(cfg),
    }
    if delivery:
        body["delivery"] = delivery
    if airflow:
        body["airflow"] = airflow
    if warnings:  # a published run that needs a look (a group listed out of proportion, lists that fell short)
        body["warnings"] = warnings
    path = status_path(cfg)
    tmp = path.with_name(f".{STATUS_FILE}.{os.getpid()}.tmp")
    data = json.dumps(body, indent=2).encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_synced(tmp, data)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        if _is_disk_full(exc) and _overwrite_in_place(path, data):
            return path
        log.warning("could not write the run status file %s: %s", path, exc)
        return None
    return path


def _overwrite_in_place(path: Path, data: bytes) -> bool:
    """On a full disk, rewrite the existing status file over its own blocks (no new file can be made).

    The file was written when the run started, so its space is already
    allocated; a status of a few hundred bytes fits in it. Not atomic: a
    reader at that very moment may see a torn file, which beats a status that
    still says `running` for a run that failed because the disk is full.
    """
    try:
        with open(path, "r+b", buffering=0) as fh:
            fh.write(data)
            fh.truncate(len(data))
            os.fsync(fh.fileno())
    except OSError as exc:
        log.warning("could not rewrite the run status file %s in place on a full disk: %s", path, exc)
        return False
    return True


def read_status(cfg: PlaceConfig) -> dict | None:
    try:
        return json.loads(status_path(cfg).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_disk_full(exc: BaseException) -> bool:
    """A full disk anywhere in the chain: by errno where Python raised it, else by the words.

    DuckDB 2.0 (a plain IOException) and pyarrow raise a failed write with no errno and no type of its own
    for a full disk, so for them the text is the only sign.
    """
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(exc) or "disk is full" in str(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _full_where(cfg: PlaceConfig, exc: BaseException) -> str:
    """Which folder a disk-full error without a file name was writing: the warehouse's for DuckDB's errors."""
    import duckdb

    from stratify.errors import WarehouseError, caused_by

    if caused_by(exc, (duckdb.Error, WarehouseError)) is not None:
        return str(cfg.warehouse.parent)
    return f"{cfg.out} or {cfg.warehouse.parent}"


def explain_failure(cfg: PlaceConfig, exc: BaseException, stage: str) -> tuple[str, str]:
    """(message, action) for a failed stage: what went wrong, and what a person should do about it.

    The message names the stage and the exception's own text (which names the
    file, key or rule; no stage puts delivered values in it). The action is
    the error's own (`StratifyError.action_for`), or for errors from Python
    and DuckDB the one that fits: free space, make a folder writable, restore
    a damaged warehouse.
    """
    from stratify.errors import StratifyError, WarehouseDamaged, caused_by
    from stratify.warehouse.connect import damaged_message, is_corrupt

    kept = "the last good lists stay published"
    message = f"stage {stage} failed: {type(exc).__name__}: {exc}"
    if _is_disk_full(exc):
        where = getattr(exc, "filename", None) or _full_where(cfg, exc)
        return (f"stage {stage} failed: the disk is full (writing {where}): {exc}",
                f"free space on the disk holding {where}, then run again; {kept}")
    if isinstance(exc, PermissionError):
        return message, (f"make {exc.filename or cfg.out} writable by the user running stratify "
                         f"({_user()}), then run again; {kept}")
    if caused_by(exc, WarehouseDamaged) is None and is_corrupt(exc, cfg.warehouse):
        # found by a stage's query, not when the file was opened: DuckDB's own error, worded as damage
        exc = WarehouseDamaged(damaged_message(cfg, exc))
        message = f"stage {stage} failed: {exc}"
    if isinstance(exc, StratifyError):
        return message, f"{exc.action_for(cfg)}; {kept}"
    return message, f"see the task log for the cause; the next run retries from the start; {kept}"


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid())
