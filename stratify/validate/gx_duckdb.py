"""Great Expectations' SQL engine on DuckDB: one persistent connection, regexes in-database.

GX 1.24 ships no DuckDB support of its own, and through the `duckdb-engine`
SQLAlchemy dialect it fails in two ways, both measured here:

- every metric errors with `list index out of range`: GX returns the
  connection to SQLAlchemy's pool before it fetches the result, and the pool's
  rollback on return empties DuckDB's pending result (GX issues 10738 and
  11579, duckdb_engine issues 734 and 1087). GX keeps one persistent
  connection, never returned, for the dialects it lists in
  `_PERSISTED_CONNECTION_DIALECTS` (SQLite, SQL Server, ...); `install()` adds
  DuckDB to that list.
- every regex expectation errors with "Regex is not supported for dialect
  duckdb": GX's `get_dialect_regex_expression` knows no DuckDB.
  `install()` maps it to DuckDB's `regexp_matches`, a search like the
  `str.contains` GX's pandas engine uses.

One more patch is for speed, not correctness: GX counts the rows that break
`expect_column_values_to_be_unique` with a window count per value
(`count(*) OVER (PARTITION BY column)`), which DuckDB sorts row by row (4.7 s
for 10M distinct record ids on 2 cores). On DuckDB `install()` gives the
metric `column_values.unique.unexpected_count` the same number from a hash
GROUP BY instead (2.6 s): the rows of every non-null value that occurs at
least twice in the same domain records (row condition and `ignore_row_if`
applied by GX exactly as before). The expectation, its result and its Data
Docs are unchanged; tests/test_gx_duckdb.py checks both counts agree.

Another is for speed too: in the BASIC result format with
`partial_unexpected_count: 0` (what stratify asks for: no delivered value
may reach results or Data Docs), GX still runs one query per map
expectation for its sample of unexpected values, `... LIMIT 0`, always
empty: about a third of a small delivery's queries. On DuckDB `install()`
answers those `*.unexpected_values` metrics with the empty list without a
query when no sample is asked for; with a sample asked for (or COMPLETE),
GX's own query runs as before.

And one more: for `table.column_types` GX asks SQLAlchemy for the table's
primary key, which on DuckDB 2.0 can only fail (SQLAlchemy's PostgreSQL
query casts to REGCLASS, a type DuckDB's pg_catalog lacks); GX catches the
error and records no primary key. That failing reflection was two of a
delivery's three catalog queries, about a tenth of validating a small one.
`install()` makes the DuckDB dialect say at once that it cannot reflect
primary keys (`NotImplementedError`, which GX catches the same way), so
GX's column metadata is the same, without the queries.

These patches reach into private names, so great-expectations and duckdb-engine
are pinned exactly in pyproject.toml, and each reach is one `PrivateHook` in
`HOOKS`: what it touches, its check (`stratify.validate.gx_internals`), its
patch and whether the patch is in place. `install()` first checks the
versions and every hook: if any changed it raises `GXInternalsChanged`
rather than run suites whose checks silently error; tests/test_gx_duckdb.py
changes the library under each hook in turn and sees it refuse.

Last, one for correctness: a query that fails on DuckDB (say a regex
DuckDB cannot compile) aborts the persistent connection's transaction, and
GX's recovery rolls back only on SQLAlchemy's `PendingRollbackError`, which
DuckDB's driver never raises. Every later metric of the delivery then failed
with "Current transaction is aborted", so one bad check made all the others
report failures that were not there. `install()` rolls the DuckDB connection
back after a failed query (the error still reaches GX, which reports that
check as errored), so the other checks run on a clean transaction.

`duckdb_datasource` gives GX a data source whose connections are cursors on
a DuckDB connection the caller already holds, so GX reads the tables the
caller built in that database (also in-memory ones) with its limits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb

from stratify.validate.gx_internals import (  # noqa: F401 (re-exported: the names the patches and tests use)
    DIALECT, DUCKDB_ENGINE_VERSION, DUPLICATE_THRESHOLD, GX_VERSION, REGEX_METRIC_MODULES, SAMPLE_METRIC_SUFFIX,
    SAMPLE_VALUE_FUNCTIONS, SQL_ENGINE, UNIQUE_COUNT_METRIC, GXInternalsChanged, _check_connection_wrapper,
    _check_persisted_connection_internals, _check_primary_key_internals, _check_query_recovery_internals,
    _check_regex_internals, _check_sample_value_internals, _check_unique_count_internals, _check_versions, _fail,
    _sample_value_originals)

_installed = False
_original_unique_count: Callable | None = None
_sample_wrappers: dict[Callable, Callable] = {}  # GX's function -> ours, built once
_original_pk_constraint: Callable | None = None


class _DialectName(str):
    """The dialect name as GX's persisted-connection list needs it: equal to the string, with `.value`."""

    @property
    def value(self) -> str:
        return str(self)


def _duckdb_regex_expression(column: Any, regex: str, dialect: Any, positive: bool = True) -> Any:
    """GX's regex expression with DuckDB added: `regexp_matches` (a search, as pandas' str.contains)."""
    import sqlalchemy as sa
    from great_expectations.expectations.metrics import util

    if getattr(dialect, "name", None) == DIALECT:
        match = sa.func.regexp_matches(column, sa.literal(regex))
        return match if positive else sa.not_(match)
    return util.get_dialect_regex_expression(column, regex, dialect, positive)


def _duckdb_unique_unexpected_count(cls: Any, execution_engine: Any, metric_domain_kwargs: dict,
                                    metric_value_kwargs: dict, metrics: dict, **kwargs: Any) -> int:
    """Rows whose value occurs at least twice, by a GROUP BY on DuckDB (GX's window count elsewhere).

    Same domain records as GX's own count (its `unexpected_condition` carries
    the compute and accessor domain kwargs: row condition, `ignore_row_if`),
    same rule (a non-null value counted in every one of its occurrences once
    it occurs `DUPLICATE_THRESHOLD` times); only the plan differs.
    """
    import sqlalchemy as sa
    from great_expectations.util import get_sqlalchemy_selectable

    if execution_engine.dialect_name != DIALECT:
        return _original_unique_count(cls, execution_engine=execution_engine, metric_domain_kwargs=metric_domain_kwargs,
                                      metric_value_kwargs=metric_value_kwargs, metrics=metrics, **kwargs)
    _condition, compute_kwargs, accessor_kwargs = metrics["unexpected_condition"]
    records = execution_engine.get_domain_records(domain_kwargs=dict(**compute_kwargs, **accessor_kwargs))
    selectable = get_sqlalchemy_selectable(records)
    if isinstance(selectable, sa.Select):
        selectable = selectable.subquery()
    column = sa.column(accessor_kwargs["column"])
    duplicates = (sa.select(sa.func.count().label("n")).select_from(selectable).where(column.is_not(None))
                  .group_by(column).having(sa.func.count() >= DUPLICATE_THRESHOLD).subquery("duplicate_values"))
    query = sa.select(sa.func.coalesce(sa.func.sum(duplicates.c.n), 0))
    return int(execution_engine.execute_query(query).fetchall()[0][0])


def no_sample_asked(metric_value_kwargs: dict) -> bool:
    """True if the result format asks for no sample of unexpected values (BASIC or SUMMARY with a count of 0)."""
    result_format = metric_value_kwargs.get("result_format")
    return (isinstance(result_format, dict) and result_format.get("result_format") != "COMPLETE"
            and result_format.get("partial_unexpected_count") == 0)


def _without_empty_sample(original: Callable) -> Callable:
    """GX's sample function, answering `[]` on DuckDB when no sample is asked for (GX's query would be `LIMIT 0`)."""
    def sample_values(cls: Any, execution_engine: Any, metric_domain_kwargs: dict, metric_value_kwargs: dict,
                      metrics: dict, **kwargs: Any) -> list:
        if execution_engine.dialect_name == DIALECT and no_sample_asked(metric_value_kwargs):
            return []
        return original(cls, execution_engine=execution_engine, metric_domain_kwargs=metric_domain_kwargs,
                        metric_value_kwargs=metric_value_kwargs, metrics=metrics, **kwargs)

    sample_values.__name__ = sample_values.__qualname__ = f"duckdb_{original.__name__}"
    sample_values.__doc__ = original.__doc__
    return sample_values


def _install_empty_samples() -> None:
    """Route every SQL `*.unexpected_values` provider through `_without_empty_sample` (other engines keep GX's)."""
    from great_expectations.expectations import registry

    for original in _sample_value_originals():
        _sample_wrappers.setdefault(original, _without_empty_sample(original))
    for metric, entry in registry._registered_metrics.items():
        if not metric.endswith(SAMPLE_METRIC_SUFFIX):
            continue
        providers = entry["providers"]
        for engine_name, (cls, fn) in list(providers.items()):
            if fn in _sample_wrappers:
                providers[engine_name] = (cls, _sample_wrappers[fn])


def _no_primary_key_reflection(self: Any, connection: Any, table_name: str, schema: str | None = None,
                               **kw: Any) -> dict:
    """DuckDB's dialect cannot reflect primary keys (no REGCLASS in its pg_catalog): say so without a query."""
    raise NotImplementedError("primary-key reflection is not available on DuckDB's pg_catalog (no REGCLASS type)")


def _install_persisted_connection() -> None:
    from great_expectations.execution_engine import sqlalchemy_execution_engine as see

    if not any(d == DIALECT for d in see._PERSISTED_CONNECTION_DIALECTS):
        see._PERSISTED_CONNECTION_DIALECTS = see._PERSISTED_CONNECTION_DIALECTS + (_DialectName(DIALECT),)


def _install_regex() -> None:
    import importlib

    for name in REGEX_METRIC_MODULES:
        importlib.import_module(name).get_dialect_regex_expression = _duckdb_regex_expression


def _rolled_back_after_failure(original: Callable) -> Callable:
    """GX's query runner, which on DuckDB rolls back the transaction a failed query aborted, then re-raises."""
    import sqlalchemy as sa

    def execute_query_with_recovery(connection: Any, query: Any) -> Any:
        try:
            return original(connection, query)
        except sa.exc.DBAPIError:
            if connection.dialect.name == DIALECT:
                try:
                    connection.rollback()
                except sa.exc.SQLAlchemyError:
                    pass  # the original error is the one to report
            raise

    execute_query_with_recovery.__wrapped_by__ = __name__  # type: ignore[attr-defined]  # see _rollback_in_place
    return execute_query_with_recovery


def _install_rollback_after_failed_query() -> None:
    from great_expectations.execution_engine import sqlalchemy_execution_engine as see

    original = see.SqlAlchemyExecutionEngine.__dict__["_execute_query_with_recovery"].__func__
    see.SqlAlchemyExecutionEngine._execute_query_with_recovery = staticmethod(_rolled_back_after_failure(original))


def _install_no_primary_key_reflection() -> None:
    global _original_pk_constraint
    import duckdb_engine

    _original_pk_constraint = duckdb_engine.Dialect.get_pk_constraint
    duckdb_engine.Dialect.get_pk_constraint = _no_primary_key_reflection


def _install_unique_count() -> None:
    """Route `column_values.unique.unexpected_count` on the SQL engine through the GROUP BY count.

    Other dialects keep GX's own count: the wrapper hands them to it.
    """
    global _original_unique_count
    from great_expectations.expectations import registry
    from great_expectations.expectations.metrics.map_metric_provider import map_condition_auxilliary_methods as aux

    _original_unique_count = aux._sqlalchemy_map_condition_unexpected_count_value
    providers = registry._registered_metrics[UNIQUE_COUNT_METRIC]["providers"]
    for engine_name, (cls, fn) in list(providers.items()):  # also subclasses get_metric_provider cached
        if fn is _original_unique_count:
            providers[engine_name] = (cls, _duckdb_unique_unexpected_count)


# --------------------------------------------------------------------------- the private hooks, one by one


def _persisted_connection_in_place() -> bool:
    from great_expectations.execution_engine import sqlalchemy_execution_engine as see

    return any(d == DIALECT for d in see._PERSISTED_CONNECTION_DIALECTS)


def _regex_in_place() -> bool:
    import importlib

    return all(importlib.import_module(n).get_dialect_regex_expression is _duckdb_regex_expression
               for n in REGEX_METRIC_MODULES)


def _unique_count_in_place() -> bool:
    from great_expectations.expectations import registry

    providers = registry._registered_metrics[UNIQUE_COUNT_METRIC]["providers"]
    return providers[SQL_ENGINE][1] is _duckdb_unique_unexpected_count


def _empty_samples_in_place() -> bool:
    from great_expectations.expectations import registry

    ours = set(_sample_wrappers.values())
    sql = [e["providers"].get(SQL_ENGINE) for m, e in registry._registered_metrics.items()
           if m.endswith(SAMPLE_METRIC_SUFFIX)]
    return bool(ours) and all(p is None or p[1] in ours for p in sql)


def _no_primary_key_reflection_in_place() -> bool:
    import duckdb_engine

    return duckdb_engine.Dialect.get_pk_constraint is _no_primary_key_reflection


def _rollback_in_place() -> bool:
    from great_expectations.execution_engine import sqlalchemy_execution_engine as see

    fn = see.SqlAlchemyExecutionEngine.__dict__["_execute_query_with_recovery"].__func__
    return getattr(fn, "__wrapped_by__", None) == __name__


@dataclass(frozen=True)
class PrivateHook:
    """One reach into a private name of GX or duckdb-engine: what it touches, its check, its patch, its proof.

    `check` raises GXInternalsChanged when the library no longer has the name
    as this module expects it; `install` patches it (None: only used, not
    patched); `in_place` says whether the patch is there.
    """

    name: str
    reaches: str
    check: Callable[[], None]
    install: Callable[[], None] | None
    in_place: Callable[[], bool]


HOOKS = (
    PrivateHook("persisted_connection", "great_expectations...sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS",
                _check_persisted_connection_internals, _install_persisted_connection, _persisted_connection_in_place),
    PrivateHook("regex", "great_expectations...metrics.util.get_dialect_regex_expression, as each regex metric imports it",
                _check_regex_internals, _install_regex, _regex_in_place),
    PrivateHook("unique_count", f"the registry's SQL provider of {UNIQUE_COUNT_METRIC}",
                _check_unique_count_internals, _install_unique_count, _unique_count_in_place),
    PrivateHook("empty_samples", f"the registry's SQL providers of *{SAMPLE_METRIC_SUFFIX}",
                _check_sample_value_internals, _install_empty_samples, _empty_samples_in_place),
    PrivateHook("no_primary_key_reflection", "duckdb_engine.Dialect.get_pk_constraint",
                _check_primary_key_internals, _install_no_primary_key_reflection, _no_primary_key_reflection_in_place),
    PrivateHook("rollback_after_failed_query", "SqlAlchemyExecutionEngine._execute_query_with_recovery",
                _check_query_recovery_internals, _install_rollback_after_failed_query, _rollback_in_place),
    PrivateHook("connection_wrapper", "duckdb_engine.ConnectionWrapper", _check_connection_wrapper, None,
                lambda: True),
)


def hook(name: str) -> PrivateHook:
    """The private hook called `name`."""
    return next(h for h in HOOKS if h.name == name)


def check_internals() -> None:
    """Raise GXInternalsChanged unless the versions and every private name the hooks rely on are as expected."""
    _check_versions()
    for h in HOOKS:
        h.check()


def install() -> None:
    """Make GX's SQL engine work on DuckDB (idempotent); raises GXInternalsChanged if GX changed."""
    global _installed
    check_internals()
    if _installed:
        return
    for h in HOOKS:
        if h.install is not None:
            h.install()
    _installed = True


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def duckdb_datasource(context: Any, name: str, con: duckdb.DuckDBPyConnection, catalog: str | None = None) -> Any:
    """A GX SQL data source reading through cursors on `con` (the caller's DuckDB database and limits).

    Every connection GX opens is a new cursor of `con` (same database
    instance, its own transaction) with `catalog` as its default, so tables the
    caller built there, in a file or in memory, are GX's tables by their plain
    names. GX keeps one of them open for the whole validation (see the module
    docstring); `close_datasource` ends it.
    """
    import duckdb_engine
    import sqlalchemy as sa

    install()

    def cursor() -> duckdb_engine.ConnectionWrapper:
        cur = con.cursor()
        if catalog:
            cur.execute(f"USE {_quoted(catalog)}")
        return duckdb_engine.ConnectionWrapper(cur)

    ds = context.data_sources.add_sql(name=name, connection_string=f"{DIALECT}://", create_temp_table=False,
                                      kwargs={"creator": cursor})
    engine = ds.get_execution_engine()
    if engine.dialect_name != DIALECT or not isinstance(engine.engine.pool, sa.pool.StaticPool):
        close_datasource(context, ds)
        raise _fail("GX did not give the DuckDB data source one persistent connection")
    return ds


def close_datasource(context: Any, ds: Any) -> None:
    """Close every connection of a data source made by `duckdb_datasource` and remove it from the context.

    Closing the cursor GX kept open ends its read transaction, so the caller
    can drop or replace the tables it read.
    """
    try:
        ds.get_execution_engine().close()  # disposes the engine: its StaticPool closes the one cursor
        ds.get_engine().dispose()  # the engine GX used to test the connection
    finally:
        context.data_sources.delete(ds.name)
