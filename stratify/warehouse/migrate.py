"""The warehouse's schema: the numbered DDL files in `warehouse/`, each applied once, in order."""

from __future__ import annotations

from pathlib import Path

import duckdb

from stratify.resources import DDL_DIR
from stratify.warehouse.sql import run_sql_file


def migrate(con: duckdb.DuckDBPyConnection, ddl_dir: Path = DDL_DIR) -> list[str]:
    """Apply the numbered DDL files in order; each file's statements are idempotent.

    A file is applied once: a schema change is a new numbered file, never an
    edit of one already applied, so a database that has recorded every file
    needs nothing (this check runs on every connection and costs one query).
    """
    paths = sorted(ddl_dir.glob("*.sql"))
    try:
        done = {name for (name,) in con.execute("SELECT file_name FROM schema_migrations").fetchall()}
    except duckdb.CatalogException:
        done = set()
    if {p.name for p in paths} <= done:
        return []
    applied = []
    for path in paths:
        run_sql_file(con, path, step="migrate")
        applied.append(path.name)
    con.execute(
        "INSERT INTO schema_migrations (file_name) SELECT unnest($names) "
        "ON CONFLICT DO NOTHING",
        {"names": applied},
    )
    return applied
