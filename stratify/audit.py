"""The audit trail: runs, publications and the access log, for information-governance staff.

Deliveries and validation results are written by `ingest` and `validate`;
this module opens and closes runs, records what was published and who saw
what, and answers "what happened on night X".
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

from stratify.config import PlaceConfig
from stratify.context import RunContext, staging_dir
from stratify.warehouse import connect, fetch_one

RUN_STATUSES = ("running", "published", "held", "failed")


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def start_run(cfg: PlaceConfig, as_of: date, run_id: str | None = None) -> RunContext:
    """Open a run: a `runs` row with status `running` and an empty staging folder.

    A caller that may retry (an Airflow task) passes a `run_id` of its own:
    opening the same run again while it is still running returns it instead
    of starting a second one.
    """
    ctx = RunContext(run_id, cfg.place, as_of) if run_id else RunContext.new(cfg, as_of)
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
    return ctx


def finish_run(cfg: PlaceConfig, ctx: RunContext, status: str, message: str = "") -> dict:
    """Close a run with its final status; a run already closed keeps its first status."""
    if status not in RUN_STATUSES[1:]:
        raise ValueError(f"finish_run: status must be one of {RUN_STATUSES[1:]}, got {status!r}")
    with connect(cfg) as con:
        con.execute(
            "UPDATE runs SET status = $1, message = $2, finished_at = $3 WHERE run_id = $4 AND status = 'running'",
            [status, message or None, now_utc(), ctx.run_id],
        )
        row = fetch_one(con, "SELECT status, message FROM runs WHERE run_id = $1", [ctx.run_id])
    if row is None:
        raise LookupError(f"run {ctx.run_id} is not in the warehouse {cfg.warehouse}")
    return {"run_id": ctx.run_id, "status": row[0], "message": row[1]}


def set_model_version(cfg: PlaceConfig, ctx: RunContext, version: str) -> None:
    with connect(cfg) as con:
        con.execute("UPDATE runs SET model_version = $1 WHERE run_id = $2", [version, ctx.run_id])


def record_publications(cfg: PlaceConfig, ctx: RunContext, files: list[dict]) -> None:
    """One `publications` row per written file: path (relative to the run folder), rows, sha256."""
    at = now_utc()
    with connect(cfg) as con:
        con.executemany(
            "INSERT INTO publications (run_id, team, path, rows, sha256, published_at) VALUES ($1, $2, $3, $4, $5, $6)",
            [[ctx.run_id, f.get("team"), f["path"], f.get("rows"), f["sha256"], at] for f in files],
        )


def log_access(cfg: PlaceConfig, user: str, action: str, target: str | Path, reason: str, n_people: int | None) -> None:
    """Record who did what to which list or lookup, when and why (for IG audit)."""
    if not user.strip() or not reason.strip():
        raise ValueError("access must be logged with a user name and a reason")
    with connect(cfg) as con:
        con.execute(
            "INSERT INTO access_log (accessed_at, user_name, action, target, reason, n_people) VALUES ($1, $2, $3, $4, $5, $6)",
            [now_utc(), user, action, str(target), reason, n_people],
        )
