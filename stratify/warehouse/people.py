"""Queries over a set of people: the people are handed to DuckDB as the table `list_people`, then the SQL runs.

Several stages read a few columns of a few thousand people out of millions
(the people a list shows, the previous lists' people); each such query is a
file of stratify/sql that semi-joins `list_people`.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from stratify.warehouse.database import SQL_DIR, read_sql


def register_people(con, person_ids) -> None:
    """Make `list_people` (person_id, each once, sorted) visible to `con`'s queries."""
    con.register("list_people", pa.table({"person_id": pa.array(sorted(set(person_ids)), pa.string())}))


def query_for_people(con, person_ids, sql_file: str, params: dict | None = None) -> pd.DataFrame:
    """Run a query of stratify/sql over `list_people` (these people), unregistering them afterwards."""
    register_people(con, person_ids)
    try:
        return con.execute(read_sql(SQL_DIR / sql_file), params or None).df()
    finally:
        con.unregister("list_people")
