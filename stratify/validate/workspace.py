"""The work table: one delivery at a time, read by DuckDB into an in-memory database beside the warehouse.

`open_workspace` attaches the in-memory database (and the run's register ids
for the key-mismatch check); `load_work_table` reads a delivery into it as
text, the same text form as `ingest.read_delivery` gives it, plus the parsed
companion columns the suites check (`<column>__yyyymmdd`, `__calendar`,
`__number`, `__age_years`), never whole into Python; `drop_work_table` and
`close_workspace` end it. The place's DuckDB `threads`, `memory_limit` and
temporary folder bound what a big delivery costs.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from stratify.contract import Source, load_contract
from stratify.ingest.read import HEADER_ONLY, DeliveryReadError, delivery_read_error, delivery_select
from stratify.validate.suites import companion_columns

WORK_CATALOG = "stratify_work"  # an in-memory database attached to the warehouse connection
WORK_TABLE = f"{WORK_CATALOG}.delivery"


def quoted(name: str) -> str:
    """A DuckDB identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


def open_workspace(con: duckdb.DuckDBPyConnection) -> None:
    """Attach the in-memory work database that holds one delivery at a time, and the run's register ids.

    It lives in the warehouse's DuckDB instance, so the place's `threads`,
    `memory_limit` and `temp_directory` apply: a delivery bigger than the
    limit spills to the temporary folder instead of growing the process. It
    is never written to a database file and is gone when the stage ends.
    """
    con.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {WORK_CATALOG}")
    con.execute(f"CREATE OR REPLACE TABLE {WORK_CATALOG}.run_register_ids (person_id VARCHAR)")


def close_workspace(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"DETACH DATABASE IF EXISTS {WORK_CATALOG}")


def _companion_sql(source: Source, present: set[str]) -> tuple[list[str], list[str]]:
    """Select items for the work table: (helpers over the text columns, final items over text and helpers).

    Final items: missing optional columns as nulls (missing required columns
    stay missing so the suite reports them), then the parsed companions. A
    date is matched and parsed once, in a helper, for both of its companions.
    Parameters: $date_text, $integer_text, $decimal_text, $year_month,
    $delivery_months.
    """
    helpers, items = [], []
    for i, c in enumerate(source.columns):
        n = c.name
        col = quoted(n) if n in present else "CAST(NULL AS VARCHAR)"
        if n not in present and not c.required:
            items.append(f"CAST(NULL AS VARCHAR) AS {quoted(n)}")
        if c.type == "date":
            form, parsed = f"__stratify_form_{i}", f"__stratify_parsed_{i}"
            helpers.append(f"regexp_full_match({col}, $date_text) AS {form}")
            helpers.append(f"try_strptime({col}, '%Y-%m-%d') AS {parsed}")
            items.append(f"CASE WHEN {form} THEN {parsed} IS NOT NULL END AS {quoted(n + '__calendar')}")
            items.append(f"CAST(CASE WHEN {form} THEN year({parsed}) * 10000 + month({parsed}) * 100 + day({parsed}) END "
                         f"AS DOUBLE) AS {quoted(n + '__yyyymmdd')}")
        if c.type in ("integer", "decimal"):
            items.append(f"CASE WHEN regexp_matches({col}, ${c.type}_text) THEN TRY_CAST({col} AS DOUBLE) END "
                         f"AS {quoted(n + '__number')}")
        if c.age_range:
            items.append(
                f"CASE WHEN regexp_matches({col}, $year_month) THEN "
                f"CAST(floor(($delivery_months - (CAST(substr({col}, 1, 4) AS INTEGER) * 12 "
                f"+ CAST(substr({col}, 6, 2) AS INTEGER) - 1)) / 12.0) AS DOUBLE) END AS {quoted(n + '__age_years')}")
    return helpers, items


def load_work_table(con: duckdb.DuckDBPyConnection, path: Path, source: Source, delivery_date: date) -> tuple[int, list[str]]:
    """Read a delivery straight into the work table: its text columns plus parsed companions, all in DuckDB.

    Returns (rows, delivered column names). One pass over the file, nothing
    in Python: the same text form as `ingest.read_delivery` (so the same
    reasons for unreadable files), with the companion columns the suites
    check (`<column>__yyyymmdd`, `__calendar`, `__number`, `__age_years`).
    Table order is file order (DuckDB preserves insertion order), so
    `rowid + 1` is the data row number. Raises `DeliveryReadError`.
    """
    contract = load_contract()
    text_sql = delivery_select(con, path, source)
    try:
        delivered = [r[0] for r in con.execute(f"DESCRIBE {text_sql}").fetchall()]
    except duckdb.Error as exc:
        raise delivery_read_error(path, exc) from None
    reserved = sorted(set(delivered) & ({n for c in source.columns for n in companion_columns(c)}
                                        | {n for n in delivered if n.startswith("__stratify_")}))
    if reserved:  # a delivered column would clash with a parsed companion or helper of the work table
        raise DeliveryReadError(path, f"column(s) {', '.join(reserved)} are not in the contract for this source "
                                      "(data minimisation: deliver only the contract's columns)")
    helpers, items = _companion_sql(source, set(delivered))
    inner = f"SELECT {', '.join(['t0.*'] + helpers)} FROM ({text_sql}) AS t0"
    keep = "t.*" + (f" EXCLUDE ({', '.join(h.rsplit(' AS ', 1)[1] for h in helpers)})" if helpers else "")
    sql = f"CREATE OR REPLACE TABLE {WORK_TABLE} AS SELECT {', '.join([keep] + items)} FROM ({inner}) AS t"
    values = {"date_text": contract.types["date"]["text_pattern"].strip("^$"),
              "integer_text": contract.types["integer"]["text_pattern"],
              "decimal_text": contract.types["decimal"]["text_pattern"],
              "year_month": contract.patterns["year_month"],
              "delivery_months": delivery_date.year * 12 + delivery_date.month - 1}
    params = {k: v for k, v in values.items() if f"${k}" in sql}
    try:
        con.execute(sql, params) if params else con.execute(sql)
    except duckdb.Error as exc:
        raise delivery_read_error(path, exc) from None
    rows = con.execute(f"SELECT count(*) FROM {WORK_TABLE}").fetchall()[0][0]
    if rows == 0:
        raise DeliveryReadError(path, HEADER_ONLY)
    return rows, delivered


def drop_work_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"DROP TABLE IF EXISTS {WORK_TABLE}")
