"""The feature table's column names, known when the configuration is loaded, without a warehouse.

Which features exist depends on the contract (one count per source, event
type and window), the configured domains (one flag and count per domain)
and the hand-written SQL in `features/`. Rather than restate those rules,
this runs the real feature build (the same `stratify.features.build`
and SQL files the night runs) on an empty in-memory DuckDB with the
warehouse's DDL applied: the columns it creates are exactly the columns
tonight's `feat_person` will have. About a second, once per process and set
of domains.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from types import SimpleNamespace

from stratify.contract import DomainRule

TEXT_TYPES = ("VARCHAR",)
DRY_RUN_DATE = date(2000, 1, 1)


@lru_cache(maxsize=8)
def feature_columns(domains: tuple[DomainRule, ...]) -> dict[str, str]:
    """feat_person's columns and their DuckDB types, for a place with these `domains`."""
    import duckdb

    from stratify.features.build import build_feature_table
    from stratify.resources import SQL_DIR
    from stratify.warehouse.migrate import migrate
    from stratify.warehouse.sql import run_sql_file

    con = duckdb.connect(":memory:", config={"threads": 1})
    try:
        migrate(con)
        con.execute("CREATE TABLE neighbourhoods (lsoa21 VARCHAR, team VARCHAR)")  # as link.py creates it
        run_sql_file(con, SQL_DIR / "persons.sql", {"as_of": DRY_RUN_DATE}, step="features: dry run")
        build_feature_table(con, SimpleNamespace(domains=domains), DRY_RUN_DATE)
        rows = con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'feat_person' "
                           "ORDER BY column_index").fetchall()
    finally:
        con.close()
    return dict(rows)


def known_features(domains: tuple[DomainRule, ...]) -> tuple[set[str], set[str]]:
    """(numeric features a rule may test, every column a reason may quote)."""
    from stratify.features.build import DESCRIPTIVE_COLUMNS

    columns = feature_columns(tuple(domains))
    numeric = {c for c, t in columns.items() if c not in DESCRIPTIVE_COLUMNS and t not in TEXT_TYPES}
    return numeric, set(columns)
