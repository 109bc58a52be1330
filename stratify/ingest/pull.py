"""Pull: bring each agency's new deliveries from its drop location into the landing zone.

Stage 0 of a run, before `discover`. A place that configures no `drops:` has
its agencies deliver straight into `<landing>/<source>/`, and this stage only
says so. Otherwise each drop (a local folder, `sftp://host[:port]/path` or
`s3://bucket/prefix`, read through fsspec) is listed twice, a short pause
apart, and every file that is complete is copied to
`<landing>/<source>/<name>.part`, checked (byte count, the source unchanged
while it was read), fsync'ed and renamed to its final name, so `discover`
never sees half a file. A file is complete when its size and modification
time are the same in both looks or, for a drop with `done_marker: true`, when
`<name>.done` stands beside it.

Every file seen gets a `pulls` row (outcome `pulled`, `already_pulled`,
`skipped_in_flight`, `skipped_no_marker`, `refused_name_clash`, `failed`; a
drop that cannot be listed gets one `unreachable` row) with the sha256 of the
bytes copied. A file already pulled (same drop, path and size, and the same
sha256 or, without copying it again, the same modification time) is not
pulled twice. Nothing is deleted at the source unless the drop says
`delete_at_source: true`, and then only once the landing copy is verified.
A file in landing with the same name and different content is never
overwritten.

Drops are opened and listed by `stratify.ingest.drops`, with credentials from
the Airflow connection `conn_id` at run time, never from the YAML; they are
never logged or stored, and error texts are scrubbed of them. An unreachable drop or a failed copy
is recorded and the run goes on with what has landed (a late delivery is
taken on the next run); a configuration problem (unknown connection, no host
key, s3fs missing) stops the stage with a `ConfigError`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stratify.config import ConfigError, DropConfig, PlaceConfig
from stratify.files.durable import fsync_dir, sha256_file
from stratify.files.permissions import make_private_dir, open_private
from stratify.ingest.drops import Drop, RemoteFile, close_drop, list_drop, open_drop, scrub, stat_file
from stratify.run.context import RunContext
from stratify.run.summaries import write_stage_summary
from stratify.warehouse.database import SQL_DIR, connect, run_sql_file

log = logging.getLogger(__name__)

CHUNK = 1 << 20
IGNORED_SUFFIXES = (".part", ".tmp", ".done")  # an agency's own in-progress names, and markers
MARKER = ".done"
OUTCOMES = ("pulled", "already_pulled", "skipped_in_flight", "skipped_no_marker", "refused_name_clash",
            "failed", "unreachable")
PREVIOUS_SQL = SQL_DIR / "pull_previous.sql"
RECORD_SQL = SQL_DIR / "pull_record.sql"


# --------------------------------------------------------------------------- copying


def copy_to_part(drop: Drop, f: RemoteFile, part: Path) -> tuple[int, str]:
    """Stream the remote file into `part`, hashing as it goes; fsync before returning (bytes, sha256)."""
    h = hashlib.sha256()
    n = 0
    if not part.parent.is_dir():
        make_private_dir(part.parent)
    with drop.fs.open(f.path, "rb") as src, os.fdopen(open_private(part), "wb") as dst:  # 0o640, whatever the umask
        if hasattr(src, "prefetch"):  # paramiko: pipeline the reads instead of one round trip per block
            src.prefetch(f.size)
        while chunk := src.read(CHUNK):
            h.update(chunk)
            dst.write(chunk)
            n += len(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    return n, h.hexdigest()


@contextmanager
def _part_file(target: Path) -> Iterator[Path]:
    """`<target>.part`, removed on the way out unless it was renamed into place."""
    part = target.with_name(target.name + ".part")
    try:
        yield part
    finally:
        part.unlink(missing_ok=True)


def _delete_at_source(drop: Drop, f: RemoteFile, marker: RemoteFile | None) -> str | None:
    """Remove the pulled file (and its marker) at the drop; the reason as text if that failed."""
    try:
        drop.fs.rm_file(f.path)
        if marker is not None:
            drop.fs.rm_file(marker.path)
    except Exception as exc:  # the landing copy is safe; the next run tries again
        return scrub(f"pulled, but deleting it at the source failed: {type(exc).__name__}: {exc}", drop.secrets)
    return None


# --------------------------------------------------------------------------- the stage


def _previous(con, drop: Drop, f: RemoteFile, sha256: str | None) -> tuple | None:
    rows = run_sql_file(con, PREVIOUS_SQL, {
        "source": drop.config.source, "location": drop.config.location, "remote_path": f.path,
        "size_bytes": f.size, "sha256": sha256, "remote_mtime": f.mtime,
    }, step="pull: earlier pull").fetchall()
    return rows[0] if rows else None


def _record(con, ctx: RunContext, drop: DropConfig, f: RemoteFile | None, outcome: str, *, sha256: str | None = None,
            landing: Path | None = None, deleted: bool = False, detail: str | None = None) -> None:
    run_sql_file(con, RECORD_SQL, {
        "run_id": ctx.run_id, "source": drop.source, "location": drop.location,
        "remote_path": f.path if f else None, "size_bytes": f.size if f else None,
        "remote_mtime": f.mtime if f else None, "sha256": sha256, "pulled_at": datetime.now(UTC),
        "landing_path": str(landing) if landing else None, "outcome": outcome, "deleted_at_source": deleted,
        "detail": detail,
    }, step="pull: record")
    log.info("pull %s %s: %s%s", drop.source, f.name if f else drop.location, outcome, f" ({detail})" if detail else "")


def _pull_file(con, cfg: PlaceConfig, ctx: RunContext, drop: Drop, f: RemoteFile, marker: RemoteFile | None) -> tuple[str, int]:
    """Pull one complete-looking file; record and return (outcome, bytes landed)."""
    dc = drop.config
    if not dc.delete_at_source and _previous(con, drop, f, None) is not None:
        _record(con, ctx, dc, f, "already_pulled", detail="same path, size and modification time as an earlier pull")
        return "already_pulled", 0
    target = cfg.landing / dc.source / f.name
    with _part_file(target) as part:
        n, digest = copy_to_part(drop, f, part)
        now = stat_file(drop, f)
        if n != f.size or now is None or now.look != f.look:
            _record(con, ctx, dc, f, "skipped_in_flight", detail="the file changed while it was copied; next run")
            return "skipped_in_flight", 0
        deleted, detail = False, None
        if _previous(con, drop, f, digest) is not None:
            if dc.delete_at_source:
                detail = _delete_at_source(drop, f, marker)
                deleted = detail is None
            _record(con, ctx, dc, f, "already_pulled", sha256=digest, deleted=deleted,
                    detail=detail or "same path, size and sha256 as an earlier pull")
            return "already_pulled", 0
        if target.exists():
            if sha256_file(target) != digest:
                _record(con, ctx, dc, f, "refused_name_clash", sha256=digest, detail=(
                    f"a different file named {f.name} is already in the landing folder {dc.source}/; not "
                    "overwritten. It is pulled once that one has been processed, or deliver it under a new name"))
                return "refused_name_clash", 0
            detail = "the same file was already in the landing folder; kept it"
        else:
            os.replace(part, target)
            fsync_dir(target.parent)
        if dc.delete_at_source:
            failed = _delete_at_source(drop, f, marker)
            deleted = failed is None
            detail = "; ".join(d for d in (detail, failed) if d) or None
    _record(con, ctx, dc, f, "pulled", sha256=digest, landing=target, deleted=deleted, detail=detail)
    return "pulled", n


def _pull_drop(con, cfg: PlaceConfig, ctx: RunContext, drop: Drop) -> Counter:
    """Second look at one drop, then pull each file that is complete."""
    dc = drop.config
    counts: Counter = Counter()
    second = list_drop(drop)
    for name, f in sorted(second.items()):
        if name.lower().endswith(IGNORED_SUFFIXES):
            continue
        marker = second.get(name + MARKER)
        if dc.done_marker and marker is None:
            _record(con, ctx, dc, f, "skipped_no_marker", detail=f"no {name}{MARKER} beside it yet; next run")
            counts["skipped_no_marker"] += 1
            continue
        if not dc.done_marker and (drop.first or {}).get(name, None) is None:
            _record(con, ctx, dc, f, "skipped_in_flight", detail="appeared during the pause between two looks; next run")
            counts["skipped_in_flight"] += 1
            continue
        if not dc.done_marker and drop.first[name].look != f.look:
            _record(con, ctx, dc, f, "skipped_in_flight", detail="its size or time changed between two looks; next run")
            counts["skipped_in_flight"] += 1
            continue
        try:
            outcome, n = _pull_file(con, cfg, ctx, drop, f, marker if dc.done_marker else None)
        except ConfigError:
            raise
        except Exception as exc:  # one file's failure is recorded; the others still come
            outcome, n = "failed", 0
            _record(con, ctx, dc, f, "failed", detail=scrub(f"{type(exc).__name__}: {exc}", drop.secrets))
        counts[outcome] += 1
        counts["bytes"] += n
    return counts


def pull_deliveries(cfg: PlaceConfig, ctx: RunContext, settle_seconds: float = 2.0,
                    after_first_look: Callable[[], None] | None = None) -> dict:
    """Copy new, complete files from every configured drop into `<landing>/<source>/`.

    `settle_seconds` is the pause between the two looks that tell a finished
    file from one still being written (drops with `done_marker` need none);
    `after_first_look` is called in that pause (tests use it to play a writer).
    """
    if not cfg.drops:
        summary = {"run_id": ctx.run_id, "drops": 0,
                   "message": f"no drops configured: agencies deliver straight into {cfg.landing}/<source>/, "
                              "nothing to pull"}
        write_stage_summary(cfg, ctx, "pull", summary)
        return summary
    totals: Counter = Counter()
    per_source: dict[str, dict[str, int]] = {}
    opened: list[Drop] = []
    try:
        with connect(cfg) as con:
            for dc in cfg.drops:
                drop = None
                try:
                    drop = open_drop(dc)
                    opened.append(drop)
                    drop.first = list_drop(drop)
                except ConfigError:
                    raise
                except Exception as exc:  # the agency's server is down or refuses us: next run
                    if drop is not None:
                        opened.remove(drop)
                        close_drop(drop)
                    secrets = drop.secrets if drop else ()
                    _record(con, ctx, dc, None, "unreachable", detail=scrub(f"{type(exc).__name__}: {exc}", secrets))
                    per_source[dc.source] = {"unreachable": 1}
                    totals["unreachable"] += 1
            if after_first_look is not None:
                after_first_look()
            if settle_seconds > 0 and any(not d.config.done_marker for d in opened):
                time.sleep(settle_seconds)
            for drop in opened:
                try:
                    counts = _pull_drop(con, cfg, ctx, drop)
                except ConfigError:
                    raise
                except Exception as exc:  # the listing itself failed on the second look
                    _record(con, ctx, drop.config, None, "unreachable",
                            detail=scrub(f"{type(exc).__name__}: {exc}", drop.secrets))
                    counts = Counter(unreachable=1)
                per_source[drop.config.source] = dict(counts)
                totals.update(counts)
    finally:
        for drop in opened:
            close_drop(drop)
    summary: dict[str, Any] = {"run_id": ctx.run_id, "drops": len(cfg.drops), "sources": per_source,
                               **{o: totals.get(o, 0) for o in OUTCOMES}, "bytes": totals.get("bytes", 0)}
    trouble = totals.get("failed", 0) + totals.get("unreachable", 0)
    summary["message"] = (f"pulled {summary['pulled']} file(s) from {len(cfg.drops)} drop(s)"
                          + (f"; {trouble} drop(s) or file(s) could not be pulled, see the pulls table" if trouble else ""))
    write_stage_summary(cfg, ctx, "pull", summary)
    return summary
