"""The short note on a review: kept only in the app, and only for `app.note_retention_days`.

A note is free text about a person, so it is kept no longer than it is
useful: `purge_notes` blanks every note recorded (`reviewed_at`) more than
the retention ago. The review itself (who decided what, when: the human
decision on record) stays. Each purge that removes something is one audit
row (`purge_notes`, by "(retention)", how many and the cut-off). The
connection runs with `secure_delete` and the WAL is checkpointed and
truncated afterwards, so the old text is not left in free pages or in
the log file either.

It runs when the server starts, after each recorded review, at most hourly
while the server serves (`due`), and from `stratify purge` (`purge_app_notes`).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from stratify.app import audit
from stratify.app.store import iso, open_db, transaction
from stratify.config import PlaceConfig

PURGER = "(retention)"  # no user name can hold brackets (users.check_name)
EVERY = timedelta(hours=1)


def cutoff(now: datetime, retention_days: int) -> datetime:
    return now - timedelta(days=retention_days)


def expired_count(con: sqlite3.Connection, retention_days: int, now: datetime) -> int:
    """How many notes are past their retention (nothing changed)."""
    return con.execute("SELECT count(*) FROM reviews WHERE note IS NOT NULL AND note <> '' AND reviewed_at < ?",
                       [iso(cutoff(now, retention_days))]).fetchone()[0]


def purge_notes(con: sqlite3.Connection, retention_days: int, now: datetime) -> int:
    """Blank every note recorded more than `retention_days` before `now`; how many were removed."""
    if expired_count(con, retention_days, now) == 0:
        return 0
    before = iso(cutoff(now, retention_days))
    con.execute("PRAGMA secure_delete = ON")  # freed space is overwritten, not left holding the text
    with transaction(con):
        removed = con.execute("UPDATE reviews SET note = NULL WHERE note IS NOT NULL AND note <> '' "
                              "AND reviewed_at < ?", [before]).rowcount
    audit.append(con, now=now, user=PURGER, role=None, team=None, action="purge_notes", target="review notes",
                 client=None, allowed=True,
                 detail=f"{removed} note{'s' if removed != 1 else ''} recorded before {before[:10]} removed "
                        f"(app.note_retention_days = {retention_days})")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the old pages leave the WAL file too
    return removed


class Due:
    """Whether the hourly purge is due (thread-safe enough: at worst two requests purge, the second finds nothing)."""

    def __init__(self) -> None:
        self.last: datetime | None = None

    def __call__(self, now: datetime) -> bool:
        if self.last is not None and now - self.last < EVERY:
            return False
        self.last = now
        return True


def purge_app_notes(cfg: PlaceConfig, dry_run: bool = False, now: datetime | None = None) -> dict:
    """`stratify purge`'s part for the app: the notes past `app.note_retention_days` (none if no app database)."""
    from stratify.app.store import now_utc

    now = now or now_utc()
    days = cfg.app_note_retention_days
    summary = {"database": str(cfg.app_database), "retention_days": days, "dry_run": dry_run}
    if cfg.app_database is None or not cfg.app_database.exists():
        return {**summary, "removed": 0}
    with open_db(cfg.app_database) as con:
        if dry_run:
            return {**summary, "would_remove": expired_count(con, days, now), "removed": 0}
        return {**summary, "removed": purge_notes(con, days, now)}
