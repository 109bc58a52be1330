"""Retention: remove published runs, archived deliveries and quarantined files past their time.

`purge(cfg)` is what `stratify purge` and the weekly `retention` DAG call.
Each kind of file is aged the way its meaning asks:

| kind | what | aged by | kept for |
| --- | --- | --- | --- |
| `run` | `<out>/runs/<run_id>/` | the run's as-of date (`runs` table; else the date in its id) | `retention.runs_days` |
| `staging` | `<out>/runs/.staging-<run_id>/` left by a failed or held run | its newest file's mtime | `retention.quarantine_days` |
| `archive` | `<archive>/<source>/<file>` | the delivery date in the file name (else mtime) | `retention.archive_days` |
| `quarantine` | `<quarantine>/<source>/<file>` and its `.reason.txt` | when it was quarantined (the reason file's mtime) | `retention.quarantine_days` |

The run `latest` points at is never removed, whatever its age. Every removal
is written to the `purges` table (when, kind, path, age, bytes, rule), also
when a later removal fails; the `runs`, `deliveries` and `publications` rows
stay, so the audit trail outlives the files. Purging twice removes nothing
the second time; `dry_run=True` only reports.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from stratify.config import PlaceConfig
from stratify.run.context import latest_link, runs_dir
from stratify.warehouse.connect import connect

log = logging.getLogger(__name__)

KINDS = ("run", "staging", "archive", "quarantine")
RUN_ID_RE = re.compile(r"^(\d{8})T\d+Z$")
STAGING_PREFIX = ".staging-"
REASON_SUFFIX = ".reason.txt"
DELIVERY_DATE_RE = re.compile(r"^[a-z_]+_(\d{8})(?:_\d+)?[.]")


@dataclass(frozen=True)
class Expired:
    """One file or folder past its retention, with the facts the `purges` row records."""

    kind: str
    path: Path
    age_days: int
    bytes: int
    reason: str


def purge(cfg: PlaceConfig, dry_run: bool = False, now: datetime | None = None) -> dict:
    """Remove everything past its retention and log each removal; return counts and bytes by kind."""
    now = now or datetime.now(UTC)
    expired = find_expired(cfg, now)
    removed: list[Expired] = []
    try:
        if not dry_run:
            for item in expired:
                _remove(item.path)
                removed.append(item)
                log.info("retention: removed %s %s (%d days old, %d bytes)", item.kind, item.path,
                         item.age_days, item.bytes)
    finally:
        if removed:
            _record(cfg, removed, now)
    done = expired if dry_run else removed
    summary: dict = {
        "dry_run": dry_run,
        "at": now.isoformat(),
        "removed": {k: sum(1 for i in done if i.kind == k) for k in KINDS},
        "bytes": {k: sum(i.bytes for i in done if i.kind == k) for k in KINDS},
        "kept_latest": _latest_run_id(cfg),
    }
    if dry_run:
        summary["would_remove"] = [{**asdict(i), "path": str(i.path)} for i in expired]
    return summary


def find_expired(cfg: PlaceConfig, now: datetime) -> list[Expired]:
    """Everything past its retention at `now`, runs first; nothing is touched."""
    today = now.astimezone(ZoneInfo(cfg.timezone)).date()
    return [
        *_expired_runs(cfg, today),
        *_expired_staging(cfg, now),
        *_expired_archive(cfg, today, now),
        *_expired_quarantine(cfg, now),
    ]


def _expired_runs(cfg: PlaceConfig, today: date) -> Iterator[Expired]:
    """Published run folders whose as-of date is more than `runs_days` ago, except the one `latest` shows."""
    folder = runs_dir(cfg)
    if not folder.is_dir():
        return
    keep = _latest_run_id(cfg)
    as_of = _runs_as_of(cfg)
    limit = cfg.retention.runs_days
    for path in sorted(folder.iterdir()):
        m = RUN_ID_RE.match(path.name)
        if not m or path.is_symlink() or not path.is_dir() or path.name == keep:
            continue
        run_date = as_of.get(path.name) or _date_from_digits(m.group(1))
        if run_date is None:
            continue
        age = (today - run_date).days
        if age > limit:
            yield Expired("run", path, age, _size(path), f"retention.runs_days = {limit} (as-of {run_date})")


def _expired_staging(cfg: PlaceConfig, now: datetime) -> Iterator[Expired]:
    """Staging folders a failed or held run left behind, untouched for more than `quarantine_days`."""
    folder = runs_dir(cfg)
    if not folder.is_dir():
        return
    limit = cfg.retention.quarantine_days
    for path in sorted(folder.glob(STAGING_PREFIX + "*")):
        if path.is_symlink() or not path.is_dir():
            continue
        age = _age_days(now, _newest_mtime(path))
        if age > limit:
            yield Expired("staging", path, age, _size(path), f"retention.quarantine_days = {limit} (last written)")


def _expired_archive(cfg: PlaceConfig, today: date, now: datetime) -> Iterator[Expired]:
    """Archived deliveries whose delivery date (from the file name) is more than `archive_days` ago."""
    limit = cfg.retention.archive_days
    for path in _files(cfg.archive):
        m = DELIVERY_DATE_RE.match(path.name)
        delivered = _date_from_digits(m.group(1)) if m else None
        if delivered is not None:
            age, basis = (today - delivered).days, f"delivered {delivered}"
        else:
            age, basis = _age_days(now, path.lstat().st_mtime), "no delivery date in the name: file time"
        if age > limit:
            yield Expired("archive", path, age, path.lstat().st_size, f"retention.archive_days = {limit} ({basis})")


def _expired_quarantine(cfg: PlaceConfig, now: datetime) -> Iterator[Expired]:
    """Quarantined files and their reasons, aged from the quarantine (the reason file's time)."""
    limit = cfg.retention.quarantine_days
    for path in _files(cfg.quarantine):
        if path.name.endswith(REASON_SUFFIX):
            data = path.with_name(path.name[: -len(REASON_SUFFIX)])
            when = path
        else:
            data = path
            reason = path.with_name(path.name + REASON_SUFFIX)
            when = reason if reason.exists() else path
        age = _age_days(now, when.lstat().st_mtime)
        if age > limit:
            basis = "quarantined" if when.name.endswith(REASON_SUFFIX) else "file time"
            yield Expired("quarantine", path, age, path.lstat().st_size,
                          f"retention.quarantine_days = {limit} ({basis}; {data.name})")


def _files(root: Path) -> Iterator[Path]:
    """Regular files under `root`, sorted, never following symbolic links."""
    if not root.is_dir():
        return
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            if not path.is_symlink() and path.is_file():
                yield path


def _runs_as_of(cfg: PlaceConfig) -> dict[str, date]:
    """run_id -> as_of from the warehouse (the run folder's name carries the same date as a fallback)."""
    if not cfg.warehouse.exists():
        return {}
    with connect(cfg) as con:
        return {run_id: as_of for run_id, as_of in con.execute("SELECT run_id, as_of FROM runs").fetchall()}


def _latest_run_id(cfg: PlaceConfig) -> str | None:
    link = latest_link(cfg)
    if not link.is_symlink():
        return None
    return Path(os.readlink(link)).name or None


def _date_from_digits(digits: str) -> date | None:
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def _age_days(now: datetime, mtime: float) -> int:
    return (now - datetime.fromtimestamp(mtime, UTC)).days


def _newest_mtime(folder: Path) -> float:
    newest = folder.lstat().st_mtime
    for f, dirs, files in os.walk(folder):
        for name in dirs + files:
            newest = max(newest, (Path(f) / name).lstat().st_mtime)
    return newest


def _size(folder: Path) -> int:
    return sum((Path(f) / name).lstat().st_size for f, _, files in os.walk(folder) for name in files)


def _remove(path: Path) -> None:
    """Delete a file, or a folder and everything in it (never through a symbolic link)."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


def _record(cfg: PlaceConfig, removed: list[Expired], now: datetime) -> None:
    with connect(cfg) as con:
        con.executemany(
            "INSERT INTO purges (purged_at, kind, path, age_days, bytes, reason) VALUES ($1, $2, $3, $4, $5, $6)",
            [[now, i.kind, str(i.path), i.age_days, i.bytes, i.reason] for i in removed],
        )
