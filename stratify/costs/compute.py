"""Cost, handoffs and priorities of every person, household and team, in DuckDB.

One pass prices every known event of the people in a persons table
(`stratify/sql/costs/10_costed_events.sql`); the per-person, household,
team, event-type and priority tables are aggregates of it. The nightly stage
writes them into the warehouse under their own names; `prefix="baseline_"`
builds the same tables as temporary ones for any one date. The baseline's
three years share one pricing pass instead (`stratify.costs.years`).

Every persons table has a `person_key` (the nightly `persons` through the
view `cost_persons`: its rowid), the key of every intermediate table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import duckdb

from stratify.config import PlaceConfig
from stratify.resources import SQL_DIR
from stratify.warehouse.database import render_identifier, run_sql_file

COSTS_SQL_DIR = SQL_DIR / "costs"
OUTPUTS = ("person_costs", "household_costs", "team_costs", "event_type_costs", "person_priorities")
ALLOWED = frozenset(OUTPUTS) | frozenset(f"baseline_{n}" for n in OUTPUTS) | {"cost_persons", "baseline_persons"}
SCRATCH = ("costed_events", "unit_costs", "priority_people", "priority_domain_events",
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
    return CostTables("baseline_persons" if prefix else "cost_persons", *(f"{prefix}{n}" for n in OUTPUTS))


PLAIN_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
SQL_TYPES = ("VARCHAR", "INTEGER", "SMALLINT", "DOUBLE", "BOOLEAN", "DATE")


def temp_table(con: duckdb.DuckDBPyConnection, name: str, columns: dict[str, tuple[str, list]]) -> None:
    """A small temporary table from Python lists, the values bound as list parameters.

    `name`, the column names and types are this package's own constants (checked
    here), never configuration text. Lists rather than a registered Arrow table:
    a process's first Arrow scan costs DuckDB about 0.35 CPU s, more than the
    whole of these tables.
    """
    if not PLAIN_RE.match(name) or not all(PLAIN_RE.match(c) and t in SQL_TYPES for c, (t, _) in columns.items()):
        raise ValueError(f"temp_table: {name!r} or one of its columns is not a plain name and type")
    select = ", ".join(f"unnest(CAST($c{i} AS {t}[])) AS {c}" for i, (c, (t, _)) in enumerate(columns.items()))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {select}",
                {f"c{i}": values for i, (_, values) in enumerate(columns.values())})


AGENCY_KEYS = {"health": 0, "social_care": 1, "housing": 2, "police": 3}  # the order of the SQL's agency_key


def register_inputs(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig) -> None:
    """The unit-cost table (with the handoff flag), the domain map and the priorities' criteria as temporary tables."""
    from stratify.priorities.cohorts import register_criteria

    costs = cfg.costs
    if costs is None:
        from stratify.costs.table import default_unit_costs

        costs = default_unit_costs()
    handoffs = {(h.source, h.event_type) for h in cfg.handoffs}
    rows = costs.rows
    temp_table(con, "unit_costs", {
        "type_key": ("SMALLINT", list(range(len(rows)))),
        "source": ("VARCHAR", [r.source for r in rows]),
        "event_type": ("VARCHAR", [r.event_type for r in rows]),
        "agency_key": ("SMALLINT", [AGENCY_KEYS[r.source] for r in rows]),
        "cost_gbp": ("DOUBLE", [float(r.cost_gbp) for r in rows]),
        "unit": ("VARCHAR", [r.unit for r in rows]),
        "is_handoff": ("BOOLEAN", [(r.source, r.event_type) in handoffs for r in rows]),
    })
    load_domain_map(con, cfg)
    register_criteria(con, cfg.priorities)


def load_domain_map(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig) -> None:
    """`domain_map` as features/10_known_events.sql reads it (domain, source, event_type, role, icd10 range)."""
    rows = [(r.domain, r.source, et, role, r.icd10_from, r.icd10_to)
            for r in cfg.domains for et in (r.event_types or (None,)) for role in (r.roles or (None,))]
    names = ("domain", "source", "event_type", "role", "icd10_from", "icd10_to")
    temp_table(con, "domain_map", {n: ("VARCHAR", [row[i] for row in rows]) for i, n in enumerate(names)})


def build_baseline_known(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig, known_at: date) -> None:
    """`baseline_known`: the register as known on `known_at`, with teams (the nightly `persons` is untouched)."""
    mapping = cfg.team_for_lsoa()
    temp_table(con, "baseline_neighbourhoods", {"lsoa21": ("VARCHAR", list(mapping)),
                                                "team": ("VARCHAR", list(mapping.values()))})
    run_sql_file(con, COSTS_SQL_DIR / "05_baseline_known.sql", {"known_at": known_at}, "costs: baseline register")


def build_baseline_persons(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig, as_of: date,
                           known_at: date | None = None, known: bool = False) -> None:
    """`baseline_persons`: the register as known on `known_at` (default `as_of`), born by `as_of`, with teams.

    `known=True`: `baseline_known` is already built (for that `known_at`).
    """
    if not known:
        build_baseline_known(con, cfg, known_at or as_of)
    run_sql_file(con, COSTS_SQL_DIR / "06_baseline_persons.sql", {"as_of": as_of}, "costs: baseline persons")


def compute_costs(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig, as_of: date, known_at: date | None = None,
                  prefix: str = "") -> CostTables:
    """Price every event of the people in the persons table and build the output tables.

    Nightly: person_costs, household_costs, team_costs, person_priorities;
    the baseline: baseline_person_costs, baseline_event_type_costs, baseline_person_priorities.

    `known_at` (default `as_of`) is the delivery cut-off: a baseline of an
    earlier year passes today, i.e. that year as it is known now.
    Nightly tables (no prefix) are written to the warehouse; `baseline_` ones are temporary.
    """
    names = table_names(prefix)
    kind = "TEMP" if prefix else ""  # one of this fixed pair, never input
    params = {"as_of": as_of, "known_at": known_at or as_of}
    persons = render_identifier(names.persons, ALLOWED)
    register_inputs(con, cfg)
    if not prefix:
        con.execute("CREATE OR REPLACE TEMP VIEW cost_persons AS SELECT rowid AS person_key, * FROM persons")
    nightly = (  # households and teams for the pages; the baseline draws its own from person_costs
        ("30_household_costs.sql", {"target": names.household_costs, "person_costs": names.person_costs}),
        ("40_team_costs.sql", {"target": names.team_costs, "person_costs": names.person_costs}),
    )
    baseline = (("60_event_type_costs.sql", {"target": names.event_type_costs}),)  # the lists do not read it
    steps = (
        ("10_costed_events.sql", {}),
        ("20_person_costs.sql", {"target": names.person_costs}),
        *(baseline if prefix else nightly),
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
    con.execute("DROP VIEW IF EXISTS temp.main.cost_persons")
