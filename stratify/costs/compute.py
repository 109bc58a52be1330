"""Cost, handoffs and priorities of every person, household and team, in DuckDB.

One pass prices every known event of the people in a persons table
(`stratify/sql/costs/10_costed_events.sql`); the per-person, household,
team, event-type and priority tables are aggregates of it. The nightly stage
writes them into the warehouse under their own names; the baseline builds
the same tables as temporary ones, for any date (`prefix="baseline_"`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import pyarrow as pa

from stratify.config import PlaceConfig
from stratify.features.build import load_domain_map
from stratify.priorities.cohorts import register_criteria
from stratify.resources import SQL_DIR
from stratify.warehouse.database import render_identifier, run_sql_file

COSTS_SQL_DIR = SQL_DIR / "costs"
OUTPUTS = ("person_costs", "household_costs", "team_costs", "event_type_costs", "person_priorities")
ALLOWED = frozenset(OUTPUTS) | frozenset(f"baseline_{n}" for n in OUTPUTS) | {"persons", "baseline_persons"}
SCRATCH = ("costed_events", "unit_costs", "handoff_types", "priority_people", "priority_domain_events",
           "priority_households", "priority_hits", "domain_map", "priority_list", "crit_age", "crit_event",
           "crit_domain", "crit_register", "crit_household")


@dataclass(frozen=True)
class CostTables:
    """The names of one computation's output tables."""

    persons: str
    person_costs: str
    household_costs: str
    team_costs: str
    event_type_costs: str
    person_priorities: str


def table_names(prefix: str = "") -> CostTables:
    if prefix not in ("", "baseline_"):
        raise ValueError(f"costs: unknown table prefix {prefix!r}")
    return CostTables("baseline_persons" if prefix else "persons", *(f"{prefix}{n}" for n in OUTPUTS))


def register_inputs(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig) -> None:
    """The unit-cost table, the handoff types and the priorities' criteria as temporary tables."""
    costs = cfg.costs
    if costs is None:
        from stratify.costs.table import default_unit_costs

        costs = default_unit_costs()
    cols = costs.as_columns()
    con.register("unit_costs_in", pa.table({**cols, "cost_gbp": pa.array(cols["cost_gbp"], pa.float64())}))
    con.execute("CREATE OR REPLACE TEMP TABLE unit_costs AS SELECT * FROM unit_costs_in")
    con.unregister("unit_costs_in")
    handoffs = pa.table({"source": pa.array([h.source for h in cfg.handoffs], pa.string()),
                         "event_type": pa.array([h.event_type for h in cfg.handoffs], pa.string())})
    con.register("handoff_types_in", handoffs)
    con.execute("CREATE OR REPLACE TEMP TABLE handoff_types AS SELECT * FROM handoff_types_in")
    con.unregister("handoff_types_in")
    load_domain_map(con, cfg)
    register_criteria(con, cfg.priorities)


def build_baseline_persons(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig, as_of: date,
                           known_at: date | None = None) -> None:
    """`baseline_persons`: the register as known on `known_at` (default `as_of`), born by `as_of`, with teams.

    The nightly `persons` is untouched.
    """
    mapping = cfg.team_for_lsoa()
    con.register("baseline_neighbourhoods_in", pa.table({"lsoa21": list(mapping), "team": list(mapping.values())}))
    con.execute("CREATE OR REPLACE TEMP TABLE baseline_neighbourhoods AS SELECT * FROM baseline_neighbourhoods_in")
    con.unregister("baseline_neighbourhoods_in")
    run_sql_file(con, COSTS_SQL_DIR / "05_baseline_persons.sql", {"as_of": as_of, "known_at": known_at or as_of},
                 "costs: baseline persons")


def compute_costs(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig, as_of: date, known_at: date | None = None,
                  prefix: str = "") -> CostTables:
    """Price every event of the people in the persons table and build the output tables.

    `known_at` (default `as_of`) is the delivery cut-off: a baseline of an
    earlier year passes today, i.e. that year as it is known now.
    Nightly tables (no prefix) are written to the warehouse; `baseline_` ones are temporary.
    """
    names = table_names(prefix)
    kind = "TEMP" if prefix else ""  # one of this fixed pair, never input
    params = {"as_of": as_of, "known_at": known_at or as_of}
    persons = render_identifier(names.persons, ALLOWED)
    register_inputs(con, cfg)
    steps = (
        ("10_costed_events.sql", {}),
        ("20_person_costs.sql", {"target": names.person_costs}),
        ("30_household_costs.sql", {"target": names.household_costs, "person_costs": names.person_costs}),
        ("40_team_costs.sql", {"target": names.team_costs, "person_costs": names.person_costs}),
        ("60_event_type_costs.sql", {"target": names.event_type_costs}),
        ("50_person_priorities.sql", {"target": names.person_priorities}),
    )
    for file_name, targets in steps:
        subs = {"persons": persons, "table_kind": kind, **{k: render_identifier(v, ALLOWED) for k, v in targets.items()}}
        run_sql_file(con, COSTS_SQL_DIR / file_name, params, f"costs: {file_name}", subs)
    drop_scratch(con)
    return names


def drop_scratch(con: duckdb.DuckDBPyConnection) -> None:
    for name in SCRATCH:
        con.execute(f"DROP TABLE IF EXISTS temp.main.{render_identifier(name, frozenset(SCRATCH))}")
