"""The `app_access` stage: the web app's new audit rows (page views, searches, refusals) into `access_log`.

The app (`stratify serve`) keeps its hash-chained log in its own SQLite
database (`app.database`); the night copies the rows it has not copied
before into the warehouse, so IG have every view beside the exports and
re-identifications: one `access_log` row each (action `app.<action>`, the
user, or "(not signed in)", the target, the detail as the reason,
"refused: " first when it was refused) and one `app_access` row with the
whole app row and its chain hashes. A row is copied once: `row_hash` is
the key (warehouse/012_app_access.sql), and only rows after the last one
copied are read (all of them again if that row is not the app's any more,
e.g. the app's database was replaced).

The app's database is opened read-only (`mode=ro`): the night never
writes it. No app database (no app at this place) copies nothing. A
database that cannot be read (locked past the timeout, damaged, not
readable by the night's user) fails nothing either: the stage's summary
says why, and the next night copies what this one could not. This module
reads the app's table by its schema (stratify/app/sql/schema.sql) and
imports nothing of `stratify.app`, which stands above the pipeline.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from stratify.config import PlaceConfig
from stratify.resources import SQL_DIR
from stratify.run.context import RunContext
from stratify.warehouse.connect import connect
from stratify.warehouse.sql import fetch_one, run_sql_file, transaction

log = logging.getLogger(__name__)
COPY_SQL = SQL_DIR / "app_access_copy.sql"
COLUMNS = ("seq", "at", "user_name", "role", "team", "action", "target", "client", "allowed", "detail", "prev_hash",
           "row_hash")
BUSY_SECONDS = 30


def read_only(path: Path) -> sqlite3.Connection:
    """The app's database, read-only (the night never writes it); a missing file is an error, never created."""
    return sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=BUSY_SECONDS)


def app_rows_after(path: Path, seq: int | None, row_hash: str | None) -> pd.DataFrame:
    """The app's audit rows after `seq` (all of them when `seq` is None or its row's hash is not `row_hash`)."""
    con = read_only(path)
    try:
        if seq is not None:
            same = con.execute("SELECT row_hash FROM audit WHERE seq = ?", [seq]).fetchone()
            if same is None or same[0] != row_hash:
                log.warning("app_access: the app's audit row %s is not the one copied before; reading the whole log",
                            seq)
                seq = None
        rows = con.execute(f"SELECT {', '.join(COLUMNS)} FROM audit WHERE seq > ? ORDER BY seq",
                           [seq or 0]).fetchall()
    finally:
        con.close()
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return pd.DataFrame({
        "row_hash": frame["row_hash"].astype("string"), "app_seq": frame["seq"].astype("int64"),
        "prev_hash": frame["prev_hash"].astype("string"), "accessed_at": pd.to_datetime(frame["at"], utc=True, format="ISO8601"),
        **{c: frame[c].astype("string") for c in ("user_name", "role", "team", "action", "target", "client", "detail")},
        "allowed": frame["allowed"].astype(bool),
    })


def copy_app_access(cfg: PlaceConfig, ctx: RunContext) -> dict:
    """Copy the app's audit rows not yet in the warehouse into `access_log` and `app_access`; how many."""
    path = cfg.app_database
    if path is None or not path.exists():
        return {"app_database": None, "copied": 0}
    with connect(cfg) as con:
        last = fetch_one(con, "SELECT app_seq, row_hash FROM app_access ORDER BY app_seq DESC LIMIT 1")
        try:
            rows = app_rows_after(path, *(last or (None, None)))
        except sqlite3.Error as exc:  # the lists matter more than tonight's copy: the next night catches up
            why = f"the app's database {path} could not be read ({exc}); its new rows are copied next night"
            log.warning("app_access: %s", why)
            return {"app_database": str(path), "copied": 0, "warning": why}
        before = _count(con)
        con.register("app_rows", rows)
        try:
            with transaction(con):
                run_sql_file(con, COPY_SQL, {"run_id": ctx.run_id}, step="app_access")
        finally:
            con.unregister("app_rows")
        copied = _count(con) - before
        newest = con.execute("SELECT max(app_seq) FROM app_access").fetchall()[0][0]
    return {"app_database": str(path), "copied": int(copied), "read": len(rows), "last_seq": newest}


def _count(con) -> int:
    return int(con.execute("SELECT count(*) FROM app_access").fetchall()[0][0])
