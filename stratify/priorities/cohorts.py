"""The place's priorities as small criteria tables, for `stratify/sql/costs/50_person_priorities.sql`.

The cohort definitions of the configuration (`stratify.priorities.settings`)
become rows of temporary tables, one per kind of criterion, so one fixed SQL
file evaluates any set of priorities with every value bound as data, never
written into SQL text.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from stratify.priorities.settings import Priority

TABLES: dict[str, list[tuple[str, pa.DataType]]] = {
    "priority_list": [("priority_id", pa.string()), ("name", pa.string()), ("n_criteria", pa.int32()),
                      ("include_died", pa.bool_())],
    "crit_age": [("priority_id", pa.string()), ("criterion_id", pa.int32()), ("min_age", pa.int32()),
                 ("max_age", pa.int32())],
    "crit_event": [("priority_id", pa.string()), ("criterion_id", pa.int32()), ("source", pa.string()),
                   ("event_type", pa.string()), ("window_days", pa.int32()), ("min_count", pa.int32())],
    "crit_domain": [("priority_id", pa.string()), ("criterion_id", pa.int32()), ("domain", pa.string()),
                    ("window_days", pa.int32()), ("min_count", pa.int32())],
    "crit_register": [("priority_id", pa.string()), ("criterion_id", pa.int32()), ("field", pa.string()),
                      ("value", pa.string())],
    "crit_household": [("priority_id", pa.string()), ("criterion_id", pa.int32()), ("min_members", pa.int32()),
                       ("with_children", pa.bool_()), ("others_with_domains", pa.int32()),
                       ("child_on_plan", pa.bool_())],
}


def criteria_rows(priorities: tuple[Priority, ...]) -> dict[str, list[tuple]]:
    """Rows of each criteria table; each criterion of a priority gets its own criterion_id."""
    rows: dict[str, list[tuple]] = {name: [] for name in TABLES}
    for p in priorities:
        c, n = p.cohort, 0
        if c.age is not None:
            n += 1
            rows["crit_age"].append((p.id, n, c.age.min, c.age.max))
        for ev in c.events:
            n += 1
            rows["crit_event"] += [(p.id, n, t.source, t.event_type, ev.window_days, ev.min_count) for t in ev.types]
        if c.domains is not None:
            n += 1
            rows["crit_domain"] += [(p.id, n, d, c.domains.window_days, c.domains.min_count) for d in c.domains.names]
        for field in ("sex", "ethnic_group", "lsoa21", "teams"):
            values = getattr(c, field)
            if values is not None:
                n += 1
                rows["crit_register"] += [(p.id, n, "team" if field == "teams" else field, v) for v in values]
        if c.household is not None:
            n += 1
            h = c.household
            rows["crit_household"].append((p.id, n, h.min_members, h.with_children, h.others_with_domains,
                                           h.child_on_plan))
        rows["priority_list"].append((p.id, p.name, n, c.include_died))
    return rows


def register_criteria(con: duckdb.DuckDBPyConnection, priorities: tuple[Priority, ...]) -> None:
    """Create the temporary criteria tables (empty when the place has no priorities)."""
    for name, rows in criteria_rows(priorities).items():
        schema = pa.schema(TABLES[name])
        table = pa.Table.from_pylist([dict(zip(schema.names, r)) for r in rows], schema=schema)
        con.register("criteria_in", table)
        # `name` is a key of TABLES, a fixed set of plain identifiers, never configuration text
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM criteria_in")
        con.unregister("criteria_in")
