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
are pinned exactly in pyproject.toml and `install()` first checks the
versions and every name it relies on: if any changed it raises
`GXInternalsChanged` rather than run suites whose checks silently error.

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

import inspect
from collections.abc import Callable
from typing import Any

import duckdb

GX_VERSION = "1.24.1"
DUCKDB_ENGINE_VERSION = "0.17.0"
DIALECT = "duckdb"

# GX modules whose SQLAlchemy metric functions call `get_dialect_regex_expression` by module-global name
REGEX_METRIC_MODULES = (
    "great_expectations.expectations.metrics.column_map_metrics.column_values_match_regex",
    "great_expectations.expectations.metrics.column_map_metrics.column_values_not_match_regex",
    "great_expectations.expectations.metrics.column_map_metrics.column_values_match_regex_list",
    "great_expectations.expectations.metrics.column_map_metrics.column_values_not_match_regex_list",
    "great_expectations.expectations.metrics.column_aggregate_metrics.column_values_match_regex_values",
    "great_expectations.expectations.metrics.column_aggregate_metrics.column_values_not_match_regex_values",
)

UNIQUE_COUNT_METRIC = "column_values.unique.unexpected_count"
SQL_ENGINE = "SqlAlchemyExecutionEngine"
DUPLICATE_THRESHOLD = 2  # a value is a duplicate once it occurs this often (GX's _DUPLICATE_THRESHOLD)

# GX's SQL providers of the `*.unexpected_values` metrics: (module, function), all ending in `.limit(partial_unexpected_count)`
SAMPLE_VALUE_FUNCTIONS = (
    ("great_expectations.expectations.metrics.map_metric_provider.column_map_condition_auxilliary_methods",
     "_sqlalchemy_column_map_condition_values"),
    ("great_expectations.expectations.metrics.map_metric_provider.column_pair_map_condition_auxilliary_methods",
     "_sqlalchemy_column_pair_map_condition_values"),
    ("great_expectations.expectations.metrics.map_metric_provider.multicolumn_map_condition_auxilliary_methods",
     "_sqlalchemy_multicolumn_map_condition_values"),
)
SAMPLE_METRIC_SUFFIX = ".unexpected_values"

_installed = False
_original_unique_count: Callable | None = None
_sample_wrappers: dict[Callable, Callable] = {}  # GX's function -> ours, built once
_original_pk_constraint: Callable | None = None


class GXInternalsChanged(RuntimeError):
    """A GX or duckdb-engine internal that this module patches is not what it was written against."""


class _DialectName(str):
    """The dialect name as GX's persisted-connection list needs it: equal to the string, with `.value`."""

    @property
    def value(self) -> str:
        return str(self)


def _fail(what: str) -> GXInternalsChanged:
    return GXInternalsChanged(
        f"stratify.validate.gx_duckdb was written against great-expectations {GX_VERSION} and duckdb-engine "
        f"{DUCKDB_ENGINE_VERSION}; {what}. Re-check GX's DuckDB behaviour (tests/test_gx_duckdb.py) "
        "before changing the pins or this module."
    )


def _global_names(func: Callable) -> set[str]:
    """The global names a function's code refers to (through decorators)."""
    return set(inspect.unwrap(func).__code__.co_names)


def check_internals() -> None:
    """Raise GXInternalsChanged unless every GX and duckdb-engine name the patches rely on is as expected."""
    import importlib

    import duckdb_engine
    import great_expectations as gx
    from great_expectations.execution_engine import sqlalchemy_execution_engine as see
    from great_expectations.expectations.metrics import util

    if gx.__version__ != GX_VERSION:
        raise _fail(f"great-expectations {gx.__version__} is installed")
    if duckdb_engine.__version__ != DUCKDB_ENGINE_VERSION:
        raise _fail(f"duckdb-engine {duckdb_engine.__version__} is installed")
    if not isinstance(getattr(duckdb_engine, "ConnectionWrapper", None), type):
        raise _fail("duckdb_engine.ConnectionWrapper is gone")
    dialects = getattr(see, "_PERSISTED_CONNECTION_DIALECTS", None)
    if not isinstance(dialects, tuple) or not all(hasattr(d, "value") for d in dialects):
        raise _fail("sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS is no longer a tuple of dialects")
    if "_PERSISTED_CONNECTION_DIALECTS" not in _global_names(see.SqlAlchemyExecutionEngine.get_connection):
        raise _fail("SqlAlchemyExecutionEngine.get_connection no longer consults _PERSISTED_CONNECTION_DIALECTS")
    if "_PERSISTED_CONNECTION_DIALECTS" not in _global_names(see._dialect_requires_persisted_connection):
        raise _fail("_dialect_requires_persisted_connection no longer consults _PERSISTED_CONNECTION_DIALECTS")
    original = getattr(util, "get_dialect_regex_expression", None)
    if original is None or list(inspect.signature(original).parameters) != ["column", "regex", "dialect", "positive"]:
        raise _fail("metrics.util.get_dialect_regex_expression changed its signature")
    for name in REGEX_METRIC_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "get_dialect_regex_expression", None) not in (original, _duckdb_regex_expression):
            raise _fail(f"{name} no longer imports get_dialect_regex_expression")
    _check_unique_count_internals()
    _check_sample_value_internals()
    _check_primary_key_internals()
    _check_query_recovery_internals()


def _check_query_recovery_internals() -> None:
    """GX runs every metric query through its static `_execute_query_with_recovery(connection, query)`."""
    from great_expectations.execution_engine import sqlalchemy_execution_engine as see

    engine = see.SqlAlchemyExecutionEngine
    recovery = engine.__dict__.get("_execute_query_with_recovery")
    if not isinstance(recovery, staticmethod) or \
            list(inspect.signature(recovery.__func__).parameters) != ["connection", "query"]:
        raise _fail("SqlAlchemyExecutionEngine._execute_query_with_recovery is no longer a static (connection, query)")
    if "_execute_query_with_recovery" not in _global_names(engine.execute_query):
        raise _fail("SqlAlchemyExecutionEngine.execute_query no longer runs queries through _execute_query_with_recovery")


def _check_primary_key_internals() -> None:
    """GX's column metadata asks for the primary key and carries on if the dialect cannot answer."""
    import duckdb_engine
    from great_expectations.expectations.metrics import util

    names = _global_names(util.get_sqlalchemy_column_metadata)
    if not {"get_pk_constraint", "NotImplementedError"} <= names:
        raise _fail("metrics.util.get_sqlalchemy_column_metadata no longer tolerates a dialect without "
                    "primary-key reflection")
    if not callable(getattr(duckdb_engine.Dialect, "get_pk_constraint", None)):
        raise _fail("duckdb_engine.Dialect has no get_pk_constraint")


def _sample_value_originals() -> list[Callable]:
    """GX's SQL functions for the unexpected-value samples, checked to cut the sample at `partial_unexpected_count`."""
    import importlib

    originals = []
    for module_name, name in SAMPLE_VALUE_FUNCTIONS:
        fn = getattr(importlib.import_module(module_name), name, None)
        code = getattr(inspect.unwrap(fn), "__code__", None) if fn is not None else None
        if code is None or "partial_unexpected_count" not in code.co_consts or "limit" not in code.co_names:
            raise _fail(f"{module_name}.{name} no longer limits its sample to partial_unexpected_count")
        originals.append(fn)
    return originals


def _check_sample_value_internals() -> None:
    """Every SQL provider of an `*.unexpected_values` metric is one of GX's sample functions (or ours around one)."""
    from great_expectations.expectations import registry

    known = set(_sample_value_originals()) | set(_sample_wrappers.values())
    for metric, entry in getattr(registry, "_registered_metrics", {}).items():
        if not metric.endswith(SAMPLE_METRIC_SUFFIX):
            continue
        provider = entry.get("providers", {}).get(SQL_ENGINE)
        if provider is not None and (not isinstance(provider, tuple) or provider[1] not in known):
            raise _fail(f"the SQL provider of {metric} is not one of GX's sample functions")


def _check_unique_count_internals() -> None:
    """The unique metric's SQL unexpected count is GX's generic window-condition count, as patched here."""
    from great_expectations.expectations import registry
    from great_expectations.expectations.metrics.column_map_metrics import column_values_unique
    from great_expectations.expectations.metrics.map_metric_provider import map_condition_auxilliary_methods as aux

    if getattr(column_values_unique, "_DUPLICATE_THRESHOLD", None) != DUPLICATE_THRESHOLD:
        raise _fail("column_values_unique._DUPLICATE_THRESHOLD changed")
    providers = getattr(registry, "_registered_metrics", {}).get(UNIQUE_COUNT_METRIC, {}).get("providers", {})
    provider = providers.get(SQL_ENGINE)
    if not (isinstance(provider, tuple) and len(provider) == 2):
        raise _fail(f"the registry has no SQL provider for {UNIQUE_COUNT_METRIC}")
    if provider[1] not in (aux._sqlalchemy_map_condition_unexpected_count_value, _duckdb_unique_unexpected_count):
        raise _fail(f"{UNIQUE_COUNT_METRIC} is no longer GX's window-condition unexpected count")


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


def install() -> None:
    """Make GX's SQL engine work on DuckDB (idempotent); raises GXInternalsChanged if GX changed."""
    global _installed
    check_internals()
    if _installed:
        return
    import importlib

    from great_expectations.execution_engine import sqlalchemy_execution_engine as see

    if not any(d == DIALECT for d in see._PERSISTED_CONNECTION_DIALECTS):
        see._PERSISTED_CONNECTION_DIALECTS = see._PERSISTED_CONNECTION_DIALECTS + (_DialectName(DIALECT),)
    for name in REGEX_METRIC_MODULES:
        importlib.import_module(name).get_dialect_regex_expression = _duckdb_regex_expression
    _install_unique_count()
    _install_empty_samples()
    _install_no_primary_key_reflection()
    _install_rollback_after_failed_query()
    _installed = True


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
