"""What of GX's and duckdb-engine's private API `stratify.validate.gx_duckdb` relies on, checked.

Each `_check_*` function checks one private name a patch reaches into (its
type, signature, or that GX still calls it where the patch expects), and
raises `GXInternalsChanged` saying which, so a library upgrade stops the
night before any suite runs rather than letting checks silently error. The
versions are pinned exactly in pyproject.toml; `_check_versions` refuses
others. `stratify.validate.gx_duckdb.HOOKS` pairs each check with its patch.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

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


class GXInternalsChanged(RuntimeError):
    """A GX or duckdb-engine internal that this module patches is not what it was written against."""


def _fail(what: str) -> GXInternalsChanged:
    return GXInternalsChanged(
        f"stratify.validate.gx_duckdb was written against great-expectations {GX_VERSION} and duckdb-engine "
        f"{DUCKDB_ENGINE_VERSION}; {what}. Re-check GX's DuckDB behaviour (tests/test_gx_duckdb.py) "
        "before changing the pins or this module."
    )


def _global_names(func: Callable) -> set[str]:
    """The global names a function's code refers to (through decorators)."""
    return set(inspect.unwrap(func).__code__.co_names)


def _check_versions() -> None:
    """The pinned versions of great-expectations and duckdb-engine are the ones installed."""
    import duckdb_engine
    import great_expectations as gx

    if gx.__version__ != GX_VERSION:
        raise _fail(f"great-expectations {gx.__version__} is installed")
    if duckdb_engine.__version__ != DUCKDB_ENGINE_VERSION:
        raise _fail(f"duckdb-engine {duckdb_engine.__version__} is installed")


def _check_connection_wrapper() -> None:
    """`duckdb_engine.ConnectionWrapper(cursor)` wraps a DuckDB cursor as a DBAPI connection (duckdb_datasource)."""
    import duckdb_engine

    wrapper = getattr(duckdb_engine, "ConnectionWrapper", None)
    if not isinstance(wrapper, type) or list(inspect.signature(wrapper.__init__).parameters)[1:] != ["c"]:
        raise _fail("duckdb_engine.ConnectionWrapper is gone or no longer wraps one connection")


def _check_persisted_connection_internals() -> None:
    """GX keeps one connection for the dialects in `_PERSISTED_CONNECTION_DIALECTS`, a tuple of dialect enums."""
    from great_expectations.execution_engine import sqlalchemy_execution_engine as see

    dialects = getattr(see, "_PERSISTED_CONNECTION_DIALECTS", None)
    if not isinstance(dialects, tuple) or not all(hasattr(d, "value") for d in dialects):
        raise _fail("sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS is no longer a tuple of dialects")
    if "_PERSISTED_CONNECTION_DIALECTS" not in _global_names(see.SqlAlchemyExecutionEngine.get_connection):
        raise _fail("SqlAlchemyExecutionEngine.get_connection no longer consults _PERSISTED_CONNECTION_DIALECTS")
    if "_PERSISTED_CONNECTION_DIALECTS" not in _global_names(see._dialect_requires_persisted_connection):
        raise _fail("_dialect_requires_persisted_connection no longer consults _PERSISTED_CONNECTION_DIALECTS")


def _check_regex_internals() -> None:
    """GX's regex metrics call `get_dialect_regex_expression(column, regex, dialect, positive)` by module-global name."""
    import importlib

    from great_expectations.expectations.metrics import util

    from stratify.validate import gx_duckdb as patched  # the patched functions count as GX's own

    original = getattr(util, "get_dialect_regex_expression", None)
    if original is None or list(inspect.signature(original).parameters) != ["column", "regex", "dialect", "positive"]:
        raise _fail("metrics.util.get_dialect_regex_expression changed its signature")
    for name in REGEX_METRIC_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "get_dialect_regex_expression", None) not in (original, patched._duckdb_regex_expression):
            raise _fail(f"{name} no longer imports get_dialect_regex_expression")


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

    from stratify.validate import gx_duckdb as patched  # the patched functions count as GX's own

    known = set(_sample_value_originals()) | set(patched._sample_wrappers.values())
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

    from stratify.validate import gx_duckdb as patched  # the patched functions count as GX's own

    if getattr(column_values_unique, "_DUPLICATE_THRESHOLD", None) != DUPLICATE_THRESHOLD:
        raise _fail("column_values_unique._DUPLICATE_THRESHOLD changed")
    providers = getattr(registry, "_registered_metrics", {}).get(UNIQUE_COUNT_METRIC, {}).get("providers", {})
    provider = providers.get(SQL_ENGINE)
    if not (isinstance(provider, tuple) and len(provider) == 2):
        raise _fail(f"the registry has no SQL provider for {UNIQUE_COUNT_METRIC}")
    if provider[1] not in (aux._sqlalchemy_map_condition_unexpected_count_value, patched._duckdb_unique_unexpected_count):
        raise _fail(f"{UNIQUE_COUNT_METRIC} is no longer GX's window-condition unexpected count")
