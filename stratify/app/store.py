"""The app's own SQLite database (WAL mode): opened per request, schema from sql/schema.sql.

Never the warehouse: the nightly run holds DuckDB's single writer, and the
app keeps its users, sessions, reviews and audit log apart from it.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

SCHEMA = Path(__file__).with_name("sql") / "schema.sql"
BUSY_MS = 10_000


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(t: datetime) -> str:
    """A UTC timestamp as stored: ISO 8601 with microseconds, so text order is time order."""
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # owner-only from the start


@contextmanager
def open_db(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection in autocommit mode (transactions are explicit: `BEGIN IMMEDIATE`), WAL, foreign keys on."""
    path = Path(path)
    _create(path)
    con = sqlite3.connect(path, timeout=BUSY_MS / 1000, isolation_level=None)
    try:
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = FULL")  # a recorded review survives a power cut
        con.execute("PRAGMA foreign_keys = ON")
        con.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
        yield con
    finally:
        con.close()


def migrate(path: Path) -> None:
    """Create the app's tables (idempotent)."""
    with open_db(path) as con:
        con.executescript(SCHEMA.read_text(encoding="utf-8"))


@contextmanager
def transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`BEGIN IMMEDIATE` ... `COMMIT` (or `ROLLBACK` on any error): one writer at a time, nothing half-written."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
