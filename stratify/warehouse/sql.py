"""Running SQL on a warehouse connection: named `.sql` files with bound parameters, in a transaction.

SQL lives in `.sql` files. Values are always bound as DuckDB parameters
(`$as_of`); the only text ever substituted into SQL is an identifier that
`identifiers.quote_identifier` has checked. A failing statement raises
`WarehouseError` naming the file, the step and the parameters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from stratify.errors import WarehouseError
from stratify.resources import PROJECT_ROOT


def read_sql(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> tuple | None:
    """The first row of a query, or None; the result is consumed whole.

    DuckDB 2 keeps a result open after `fetchone()` and refuses other work on
    the connection until it is drained, so single-row reads go through here.
    """
    rows = con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    return rows[0] if rows else None


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT, or ROLLBACK if the block raises (the error is raised on)."""
    con.begin()
    try:
        yield con
    except BaseException:
        con.rollback()
        raise
    con.commit()


def run_sql_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    params: Mapping[str, Any] | None = None,
    step: str = "",
    substitutions: Mapping[str, str] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Execute every statement in a `.sql` file with bound parameters.

    `substitutions` replaces `{{name}}` placeholders with identifiers that
    the caller has already checked with `quote_identifier`.
    """
    sql = read_sql(path)
    for key, value in (substitutions or {}).items():
        sql = sql.replace("{{" + key + "}}", value)
    origin = str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)
    return run_sql(con, sql, params, step=step, origin=origin)


def run_sql(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Mapping[str, Any] | None = None,
    step: str = "",
    origin: str = "<inline>",
) -> duckdb.DuckDBPyConnection:
    """Execute SQL (possibly several statements), binding only the parameters each one uses."""
    statements = [s for s in split_statements(sql) if s.strip()]
    for stmt in statements:
        used = {k: v for k, v in (params or {}).items() if re.search(r"\$" + re.escape(k) + r"\b", stmt)}
        try:
            con.execute(stmt, used) if used else con.execute(stmt)
        except duckdb.Error as exc:
            shown = {k: (str(v) if not isinstance(v, (list, tuple)) else f"<{len(v)} values>") for k, v in used.items()}
            raise WarehouseError(f"{step or 'sql'} failed in {origin} with parameters {shown}: {exc}") from exc
    return con


def split_statements(sql: str) -> list[str]:
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
