"""The place's priorities as small criteria tables, for `stratify/sql/costs/50_person_priorities.sql`.

The cohort definitions of the configuration (`stratify.priorities.settings`)
become rows of temporary tables, one per kind of criterion, so one fixed SQL
file evaluates any set of priorities with every value bound as data, never
written into SQL text.
"""

from __future__ import annotations

import duckdb

from stratify.priorities.settings import Priority

S, INT, B = "VARCHAR", "INTEGER", "BOOLEAN"
TABLES: dict[str, list[tuple[str, str]]] = {
    "priority_list": [("priority_id", S), ("name", S), ("n_criteria", INT), ("include_died", B)],
    "crit_age": [("priority_id", S), ("criterion_id", INT), ("min_age", INT), ("max_age", INT)],
    "crit_event": [("priority_id", S), ("criterion_id", INT), ("source", S), ("event_type", S), ("window_days", INT),
                   ("min_count", INT)],
    "crit_domain": [("priority_id", S), ("criterion_id", INT), ("domain", S), ("window_days", INT), ("min_count", INT)],
    "crit_register": [("priority_id", S), ("criterion_id", INT), ("field", S), ("value", S)],
    "crit_household": [("priority_id", S), ("criterion_id", INT), ("min_members", INT), ("with_children", B),
                       ("others_with_domains", INT), ("child_on_plan", B)],
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
    from stratify.costs.compute import temp_table

    for name, rows in criteria_rows(priorities).items():  # names and columns: TABLES, never configuration text
        temp_table(con, name, {col: (typ, [r[i] for r in rows]) for i, (col, typ) in enumerate(TABLES[name])})
