"""The baseline's years priced in one pass: one read of the events, every year's figures drawn from it.

A baseline shows the year ending on its date and the years before it, each
as known today. Pricing each year on its own (`compute_costs(...,
prefix="baseline_")`) read every event, built the register and aggregated
every person three times. Here (`stratify/sql/costs/8*_baseline_*.sql`):

1. `prepare_years`: the register as known today once (`baseline_known`),
   every event up to the latest year priced once (`costed_events`), and every
   year's 12-month rows and sums in one statement each (`baseline_year_people`,
   `baseline_year_types`): a dated event falls in one year's window, only
   stays are priced again for each year (open stays end on that year's date);
2. `year_tables`: one year's `baseline_persons` (born by its date),
   `baseline_person_costs`, `baseline_event_type_costs` and
   `baseline_person_priorities` (the nightly priorities SQL over the shared
   events, each year counting only those dated by its date), the tables
   `stratify.baseline.figures` reads.

Same figures as pricing each year on its own (tests/test_baseline.py compares them).
"""

from __future__ import annotations

from datetime import date

import duckdb

from stratify.config import PlaceConfig
from stratify.costs.compute import (
    ALLOWED,
    COSTS_SQL_DIR,
    CostTables,
    build_baseline_known,
    build_baseline_persons,
    drop_scratch,
    register_inputs,
    table_names,
    temp_table,
)
from stratify.warehouse.database import render_identifier, run_sql_file

YEAR_SCRATCH = ("baseline_now", "baseline_known", "baseline_years", "baseline_year_stays", "baseline_year_events",
                "baseline_year_people", "baseline_year_types")


def prepare_years(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig, as_ofs: list[date], known_at: date) -> None:
    """Price every year of `as_ofs` (year 0, 1, ... in that order), as known on `known_at`."""
    if not as_ofs:
        raise ValueError("costs: a baseline needs at least one year")
    register_inputs(con, cfg)
    build_baseline_known(con, cfg, known_at)
    temp_table(con, "baseline_years", {"year": ("INTEGER", list(range(len(as_ofs)))), "as_of": ("DATE", list(as_ofs))})
    params = {"as_of": max(as_ofs), "known_at": known_at}
    run_sql_file(con, COSTS_SQL_DIR / "81_baseline_events.sql", params, "costs: baseline events")
    run_sql_file(con, COSTS_SQL_DIR / "82_baseline_years.sql", {}, "costs: baseline years")


def year_tables(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig, year: int, as_of: date) -> CostTables:
    """One prepared year's tables: baseline_persons, baseline_person_costs, baseline_event_type_costs, baseline_person_priorities."""
    names = table_names("baseline_")
    build_baseline_persons(con, cfg, as_of, known=True)
    run_sql_file(con, COSTS_SQL_DIR / "83_baseline_year_tables.sql", {"as_of": as_of, "year": year},
                 "costs: baseline year")
    subs = {"persons": render_identifier(names.persons, ALLOWED), "table_kind": "TEMP",
            "target": render_identifier(names.person_priorities, ALLOWED)}
    run_sql_file(con, COSTS_SQL_DIR / "50_person_priorities.sql", {"as_of": as_of}, "costs: baseline priorities", subs)
    return names


def drop_years(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the shared tables of `prepare_years` (and the costs scratch tables)."""
    drop_scratch(con)
    con.execute("DROP VIEW IF EXISTS temp.main.baseline_persons")
    for name in YEAR_SCRATCH:
        con.execute(f"DROP TABLE IF EXISTS temp.main.{render_identifier(name, frozenset(YEAR_SCRATCH))}")
