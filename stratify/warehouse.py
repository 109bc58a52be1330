"""The DuckDB warehouse: opening it, applying the DDL in `warehouse/`, running SQL files.

SQL lives in `.sql` files. Values are always bound as DuckDB parameters
(`$as_of`); the only text ever substituted into SQL is a table name from a
fixed allow-list (`render_identifier`). A failing statement raises
`WarehouseError` naming the file, the step and the parameters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from stratify.config import PlaceConfig

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DDL_DIR = PROJECT_ROOT / "warehouse"
FEATURES_DIR = PROJECT_ROOT / "features"
SQL_DIR = Path(__file__).resolve().parent / "sql"

IDENTIFIER_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class WarehouseError(RuntimeError):
    """A warehouse statement failed; the message says which file and step."""


@contextmanager
def connect(cfg: PlaceConfig, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the place's warehouse with explicit resource limits, migrated to the current DDL.

    Only one process may hold the file for writing; the pipeline's writing
    steps are serialised (one run at a time, a one-slot Airflow pool).
    """
    cfg.warehouse.parent.mkdir(parents=True, exist_ok=True)
    tmp = cfg.warehouse.parent / f".{cfg.warehouse.name}.tmp"
    try:
        con = duckdb.connect(str(cfg.warehouse), read_only=read_only, config={
            "threads": cfg.duckdb.threads,
            "memory_limit": cfg.duckdb.memory_limit,
            "temp_directory": str(tmp),
        })
    except duckdb.IOException as exc:
        raise WarehouseError(
            f"cannot open the warehouse {cfg.warehouse}: {exc}. If another stratify run or program "
            "holds it, wait for it to finish; if the file is damaged, rebuild it from the archive."
        ) from exc
    try:
        if not read_only:
            migrate(con)
        yield con
    finally:
        con.close()


def migrate(con: duckdb.DuckDBPyConnection, ddl_dir: Path = DDL_DIR) -> list[str]:
    """Apply the numbered DDL files in order; each file's statements are idempotent."""
    applied = []
    for path in sorted(ddl_dir.glob("*.sql")):
        run_sql_file(con, path, step="migrate")
        applied.append(path.name)
    con.execute(
        "INSERT INTO schema_migrations (file_name) SELECT unnest($names) "
        "ON CONFLICT DO NOTHING",
        {"names": applied},
    )
    return applied


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> tuple | None:
    """The first row of a query, or None; the result is consumed whole.

    DuckDB 2 keeps a result open after `fetchone()` and refuses other work on
    the connection until it is drained, so single-row reads go through here.
    """
    rows = con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    return rows[0] if rows else None


def read_sql(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def render_identifier(name: str, allowed: set[str] | frozenset[str]) -> str:
    """Return a table or column name for SQL text, only if it is on the allow-list."""
    if name not in allowed or not IDENTIFIER_RE.match(name):
        raise WarehouseError(f"refusing to put {name!r} into SQL: not one of the known names")
    return f'"{name}"'


def run_sql_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    params: Mapping[str, Any] | None = None,
    step: str = "",
    substitutions: Mapping[str, str] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Execute every statement in a `.sql` file with bound parameters.

    `substitutions` replaces `{{name}}` placeholders with identifiers that
    the caller has already checked with `render_identifier`.
    """
    sql = read_sql(path)
    for key, value in (substitutions or {}).items():
        sql = sql.replace("{{" + key + "}}", value)
    return run_sql(con, sql, params, step=step, origin=str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path))


def run_sql(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Mapping[str, Any] | None = None,
    step: str = "",
    origin: str = "<inline>",
) -> duckdb.DuckDBPyConnection:
    """Execute SQL (possibly several statements), binding only the parameters each one uses."""
    statements = [s for s in _split_statements(sql) if s.strip()]
    for stmt in statements:
        used = {k: v for k, v in (params or {}).items() if re.search(r"\$" + re.escape(k) + r"\b", stmt)}
        try:
            con.execute(stmt, used) if used else con.execute(stmt)
        except duckdb.Error as exc:
            shown = {k: (str(v) if not isinstance(v, (list, tuple)) else f"<{len(v)} values>") for k, v in used.items()}
            raise WarehouseError(f"{step or 'sql'} failed in {origin} with parameters {shown}: {exc}") from exc
    return con


def _split_statements(sql: str) -> list[str]:
    """Split on semicolons outside quotes and comments (the DDL and feature files are simple)."""
    out, buf, quote, i = [], [], None, 0
    while i < len(sql):
        ch = sql[i]
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
            buf.append(ch)
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = len(sql) if j < 0 else j
            continue
        elif ch == ";":
            out.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    out.append("".join(buf))
    return out
