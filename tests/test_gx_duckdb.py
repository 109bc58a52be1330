"""GX's SQL engine on DuckDB (stratify.validate.gx_duckdb): every expectation type our suites use runs
in-database with the right counts, errors are reported (never passed), the connection is
released, and a change in the GX internals the patch relies on stops it loudly.
"""

from __future__ import annotations

import json

import duckdb
import great_expectations as gx
import pytest
from great_expectations.expectations.row_conditions import Column as GXColumn

from stratify.validate import gx_duckdb
from stratify.validate.gx_runner import RESULT_FORMAT
from stratify.validate.results import errored as _errored

E = gx.expectations


@pytest.fixture
def con():
    c = duckdb.connect(config={"threads": 2, "memory_limit": "512MB"})
    c.execute("ATTACH ':memory:' AS work")
    c.execute("""
        CREATE TABLE work.t AS SELECT
            'R' || i AS record_id,
            CASE WHEN i = 3 THEN 'NOT-HEX' ELSE sha256(CAST(i AS VARCHAR)) END AS person_id,
            CASE WHEN i % 4 = 0 THEN 'TRUE' ELSE 'false' END AS flag,
            CAST(i AS DOUBLE) AS n,
            CAST(i - 1 AS DOUBLE) AS m,
            i % 2 = 0 AS even,
            CASE WHEN i % 3 = 0 THEN 'a' ELSE 'b' END AS kind,
            CASE WHEN i = 7 THEN NULL ELSE 'x' END AS needed
        FROM range(10) AS r(i)
    """)
    yield c
    c.close()


def run_suite(con, expectations, name="t", all_results=False):
    context = gx.get_context(mode="ephemeral")
    ds = gx_duckdb.duckdb_datasource(context, "work", con, catalog="work")
    try:
        batch = ds.add_table_asset("t", table_name=name).add_batch_definition_whole_table("all")
        suite = context.suites.add(gx.ExpectationSuite(name="s", expectations=expectations))
        vd = context.validation_definitions.add(gx.ValidationDefinition(name="v", data=batch, suite=suite))
        result = vd.run(result_format=RESULT_FORMAT)
    finally:
        gx_duckdb.close_datasource(context, ds)
    assert "work" not in [d.name for d in context.data_sources.all().values()]
    if all_results:
        return list(result.results)
    return {r.expectation_config.type: r for r in result.results}


def test_every_expectation_type_of_the_suites_runs_in_database(con):
    r = run_suite(con, [
        E.ExpectTableRowCountToBeBetween(min_value=1),  # the metric that fails without the patch
        E.ExpectTableColumnsToMatchSet(column_set=["record_id", "person_id", "flag", "n", "m", "even", "kind", "needed"],
                                       exact_match=True),
        E.ExpectColumnToExist(column="record_id"),
        E.ExpectColumnValuesToNotBeNull(column="needed"),
        E.ExpectColumnValuesToMatchRegex(column="person_id", regex="^[0-9a-f]{64}$"),
        E.ExpectColumnValuesToBeUnique(column="record_id"),
        E.ExpectColumnValuesToBeInSet(column="even", value_set=[True]),
        E.ExpectColumnValuesToBeBetween(column="n", min_value=0, max_value=5),
        E.ExpectColumnPairValuesAToBeGreaterThanB(column_A="m", column_B="n", or_equal=True,
                                                  ignore_row_if="either_value_is_missing"),
        E.ExpectColumnValuesToBeNull(column="needed", row_condition=GXColumn(name="kind").is_not_in(["a"])),
    ])
    assert not [t for t, x in r.items() if _errored(x.exception_info)]
    got = {t: (x.success, (x.result or {}).get("unexpected_count")) for t, x in r.items()}
    assert got == {
        "expect_table_row_count_to_be_between": (True, None),
        "expect_table_columns_to_match_set": (True, None),
        "expect_column_to_exist": (True, None),
        "expect_column_values_to_not_be_null": (False, 1),
        "expect_column_values_to_match_regex": (False, 1),
        "expect_column_values_to_be_unique": (True, 0),
        "expect_column_values_to_be_in_set": (False, 5),
        "expect_column_values_to_be_between": (False, 4),
        "expect_column_pair_values_a_to_be_greater_than_b": (False, 10),
        "expect_column_values_to_be_null": (False, 5),  # kind 'b' rows (6) less the one null
    }
    # BASIC without samples: no delivered value in the results
    assert "NOT-HEX" not in json.dumps([x.to_json_dict() for x in r.values()], default=str)


def test_regex_is_a_search_with_inline_flags_as_in_the_pandas_engine(con):
    r = run_suite(con, [E.ExpectColumnValuesToMatchRegex(column="flag", regex="^(?i:true|false)$"),
                        E.ExpectColumnValuesToNotMatchRegex(column="person_id", regex="HEX")])
    assert r["expect_column_values_to_match_regex"].success  # TRUE matches case-insensitively
    nm = r["expect_column_values_to_not_match_regex"]
    assert not nm.success and nm.result["unexpected_count"] == 1  # found inside 'NOT-HEX', unanchored


def test_a_metric_error_is_reported_not_passed(con):
    r = run_suite(con, [E.ExpectColumnValuesToMatchRegex(column="person_id", regex="([unclosed")])
    x = r["expect_column_values_to_match_regex"]
    assert not x.success and _errored(x.exception_info)


def test_one_check_s_error_does_not_fail_the_others(con):
    # The regex cannot compile: DuckDB aborts the transaction; the checks after it must still see the data.
    r = run_suite(con, [
        E.ExpectColumnValuesToMatchRegex(column="person_id", regex="([unclosed"),
        E.ExpectColumnValuesToBeBetween(column="n", min_value=0, max_value=9),
        E.ExpectColumnValuesToNotBeNull(column="record_id"),
        E.ExpectColumnValuesToBeBetween(column="n", min_value=0, max_value=5),
    ])
    assert _errored(r["expect_column_values_to_match_regex"].exception_info)
    assert r["expect_column_values_to_not_be_null"].success
    between = {x.expectation_config.kwargs["max_value"]: x for x in run_suite(con, [
        E.ExpectColumnValuesToMatchRegex(column="person_id", regex="([unclosed"),
        E.ExpectColumnValuesToBeBetween(column="n", min_value=0, max_value=9),
        E.ExpectColumnValuesToBeBetween(column="n", min_value=0, max_value=5),
    ], all_results=True) if x.expectation_config.type == "expect_column_values_to_be_between"}
    assert between[9].success and not _errored(between[9].exception_info)
    assert not between[5].success and between[5].result["unexpected_count"] == 4  # n = 6..9: counted, not errored
    assert not _errored(between[5].exception_info)


def test_closing_releases_the_connection(con):
    run_suite(con, [E.ExpectTableRowCountToBeBetween(min_value=1)])
    con.execute("DROP TABLE work.t")  # GX's read transaction is over
    con.execute("CREATE TABLE work.t AS SELECT 1 AS record_id")
    r = run_suite(con, [E.ExpectTableRowCountToBeBetween(min_value=2)])
    assert r["expect_table_row_count_to_be_between"].success is False  # sees the new table, not a snapshot


def test_install_is_idempotent_and_registers_duckdb_once():
    from great_expectations.execution_engine import sqlalchemy_execution_engine as see

    gx_duckdb.install()
    gx_duckdb.install()
    assert sum(1 for d in see._PERSISTED_CONNECTION_DIALECTS if d == "duckdb") == 1
    assert see._dialect_requires_persisted_connection(connection_string="duckdb://")


UNIQUE_CASES = {
    # (values of column v, kinds for the row condition): duplicates, nulls, a value thrice, all distinct
    "duplicates_and_nulls": (["a", "a", "b", None, None, "c", "c", "c", "d", ""], list("xxyyxxxyyy")),
    "all_distinct": ([f"r{i}" for i in range(10)], list("xxxxxyyyyy")),
    "all_null": ([None] * 4, list("xxyy")),
    "empty_strings_repeat": (["", "", "e", "E"], list("xxyy")),
}


def _unique_counts(con, monkeypatch, original: bool) -> dict:
    """unexpected_count of the unique expectation, plain and under a row condition, by one count or the other."""
    from great_expectations.expectations import registry

    gx_duckdb.install()
    if original:  # GX's own window-count provider for the SQL engine
        providers = registry._registered_metrics[gx_duckdb.UNIQUE_COUNT_METRIC]["providers"]
        for engine_name, (cls, fn) in list(providers.items()):
            if fn is gx_duckdb._duckdb_unique_unexpected_count:
                monkeypatch.setitem(providers, engine_name, (cls, gx_duckdb._original_unique_count))
        assert providers["SqlAlchemyExecutionEngine"][1].__name__ == "_sqlalchemy_map_condition_unexpected_count_value"
    out = {}
    for case, (values, kinds) in UNIQUE_CASES.items():
        con.execute("CREATE OR REPLACE TABLE work.u (v VARCHAR, kind VARCHAR)")
        con.executemany("INSERT INTO work.u VALUES (?, ?)", list(zip(values, kinds)))
        r = run_suite(con, [E.ExpectColumnValuesToBeUnique(column="v")], name="u")["expect_column_values_to_be_unique"]
        c = run_suite(con, [E.ExpectColumnValuesToBeUnique(column="v", row_condition=GXColumn(name="kind").is_not_in(["y"]))],
                      name="u")["expect_column_values_to_be_unique"]
        assert not _errored(r.exception_info) and not _errored(c.exception_info)
        out[case] = ((r.success, r.result.get("unexpected_count")), (c.success, c.result.get("unexpected_count")))
    return out


def test_uniqueness_group_by_count_equals_gx_window_count(con, monkeypatch):
    ours = _unique_counts(con, monkeypatch, original=False)
    assert ours["duplicates_and_nulls"] == ((False, 5), (False, 4))  # a twice, c thrice; under kind x: a, a, c, c
    assert ours["all_distinct"] == ((True, 0), (True, 0))
    theirs = _unique_counts(con, monkeypatch, original=True)
    assert ours == theirs


def test_the_unique_count_runs_as_a_group_by_on_duckdb(con):
    from great_expectations.expectations import registry

    gx_duckdb.install()
    providers = registry._registered_metrics[gx_duckdb.UNIQUE_COUNT_METRIC]["providers"]
    assert providers["SqlAlchemyExecutionEngine"][1] is gx_duckdb._duckdb_unique_unexpected_count
    assert providers["PandasExecutionEngine"][1] is not gx_duckdb._duckdb_unique_unexpected_count


@pytest.mark.parametrize("change", ["gx_version", "dialect_list", "regex_import", "engine_version", "unique_provider",
                                    "sample_provider", "column_metadata"])
def test_a_change_in_the_internals_it_relies_on_stops_it(monkeypatch, change):
    import importlib

    import duckdb_engine
    from great_expectations.execution_engine import sqlalchemy_execution_engine as see

    if change == "gx_version":
        monkeypatch.setattr(gx, "__version__", "1.25.0")
    elif change == "dialect_list":
        monkeypatch.setattr(see, "_PERSISTED_CONNECTION_DIALECTS", ["sqlite"])
    elif change == "regex_import":
        module = importlib.import_module(gx_duckdb.REGEX_METRIC_MODULES[0])
        monkeypatch.setattr(module, "get_dialect_regex_expression", lambda *a, **k: None)
    elif change == "unique_provider":
        from great_expectations.expectations import registry

        providers = registry._registered_metrics[gx_duckdb.UNIQUE_COUNT_METRIC]["providers"]
        monkeypatch.setitem(providers, "SqlAlchemyExecutionEngine", (object, lambda *a, **k: 0))
    elif change == "column_metadata":
        from great_expectations.expectations.metrics import util

        monkeypatch.setattr(util, "get_sqlalchemy_column_metadata", lambda *a, **k: None)
    elif change == "sample_provider":
        from great_expectations.expectations import registry

        providers = registry._registered_metrics["column_values.in_set.unexpected_values"]["providers"]
        monkeypatch.setitem(providers, "SqlAlchemyExecutionEngine", (object, lambda *a, **k: []))
    else:
        monkeypatch.setattr(duckdb_engine, "__version__", "0.18.0")
    with pytest.raises(gx_duckdb.GXInternalsChanged, match="written against great-expectations"):
        gx_duckdb.install()


SAMPLED = [  # a failing map expectation of each sample function (column, column pair), and a passing one
    E.ExpectColumnValuesToMatchRegex(column="person_id", regex="^[0-9a-f]{64}$"),
    E.ExpectColumnValuesToBeUnique(column="kind"),
    E.ExpectColumnValuesToBeNull(column="needed", row_condition=GXColumn(name="kind").is_not_in(["a"])),
    E.ExpectColumnPairValuesAToBeGreaterThanB(column_A="m", column_B="n", or_equal=True,
                                              ignore_row_if="either_value_is_missing"),
    E.ExpectColumnValuesToBeInSet(column="kind", value_set=["a", "b"]),
]


def _with_gx_samples(monkeypatch) -> None:
    """Put GX's own sample functions back for the SQL engine (undone by monkeypatch)."""
    from great_expectations.expectations import registry

    gx_duckdb.install()
    ours = {wrapper: original for original, wrapper in gx_duckdb._sample_wrappers.items()}
    for entry in registry._registered_metrics.values():
        for engine_name, (cls, fn) in list(entry["providers"].items()):
            if fn in ours:
                monkeypatch.setitem(entry["providers"], engine_name, (cls, ours[fn]))


def _results(con, result_format: dict) -> list[dict]:
    from great_expectations.core.run_identifier import RunIdentifier

    context = gx.get_context(mode="ephemeral")
    ds = gx_duckdb.duckdb_datasource(context, "work", con, catalog="work")
    try:
        batch = ds.add_table_asset("t", table_name="t").add_batch_definition_whole_table("all")
        suite = context.suites.add(gx.ExpectationSuite(name="s", expectations=[e.copy() for e in SAMPLED]))
        vd = context.validation_definitions.add(gx.ValidationDefinition(name="v", data=batch, suite=suite))
        out = vd.run(result_format=result_format, run_id=RunIdentifier(run_name="r"))
    finally:
        gx_duckdb.close_datasource(context, ds)
    return [{"type": r.expectation_config.type, "success": r.success, "result": r.result,
             "errored": _errored(r.exception_info)} for r in out.results]


def _sample_queries(con, result_format: dict) -> tuple[list[dict], list[str]]:
    import duckdb_engine

    seen: list[str] = []
    original = duckdb_engine.CursorWrapper.execute

    def execute(self, statement, parameters=None, context=None):
        seen.append(str(statement))
        return original(self, statement, parameters, context)

    duckdb_engine.CursorWrapper.execute = execute
    try:
        results = _results(con, result_format)
    finally:
        duckdb_engine.CursorWrapper.execute = original
    return results, [q for q in seen if "unexpected_values" in q]


def test_no_sample_query_when_no_sample_is_asked_and_the_same_results(con, monkeypatch):
    ours, queries = _sample_queries(con, RESULT_FORMAT)
    assert queries == []
    assert {r["type"]: (r["success"], r["result"]["unexpected_count"]) for r in ours} == {
        "expect_column_values_to_match_regex": (False, 1),
        "expect_column_values_to_be_unique": (False, 10),
        "expect_column_values_to_be_null": (False, 5),
        "expect_column_pair_values_a_to_be_greater_than_b": (False, 10),
        "expect_column_values_to_be_in_set": (True, 0),
    }
    assert not any(r["errored"] for r in ours)
    assert all(r["result"]["partial_unexpected_list"] == [] for r in ours)
    _with_gx_samples(monkeypatch)
    theirs, their_queries = _sample_queries(con, RESULT_FORMAT)
    assert their_queries  # GX's own engine asks for its (empty) samples
    assert ours == theirs


def test_a_sample_asked_for_is_still_fetched_by_gx(con):
    summary = {"result_format": "SUMMARY", "partial_unexpected_count": 3}
    results, queries = _sample_queries(con, summary)
    assert queries
    samples = {r["type"]: r["result"]["partial_unexpected_list"] for r in results}
    assert samples["expect_column_values_to_match_regex"] == ["NOT-HEX"]
    assert len(samples["expect_column_pair_values_a_to_be_greater_than_b"]) == 3
    assert not gx_duckdb.no_sample_asked({"result_format": {"result_format": "COMPLETE", "partial_unexpected_count": 0}})


def _column_metadata(con) -> list[dict]:
    from great_expectations.expectations.metrics import util

    context = gx.get_context(mode="ephemeral")
    ds = gx_duckdb.duckdb_datasource(context, "work", con, catalog="work")
    try:
        return [{k: repr(v) for k, v in c.items()}
                for c in util.get_sqlalchemy_column_metadata(ds.get_execution_engine(), "t")]
    finally:
        gx_duckdb.close_datasource(context, ds)


def test_column_metadata_is_gx_s_without_the_primary_key_reflection_that_cannot_work(con, monkeypatch):
    import duckdb_engine
    import sqlalchemy as sa

    ours = _column_metadata(con)
    assert [c["name"] for c in ours] == ["'record_id'", "'person_id'", "'flag'", "'n'", "'m'", "'even'", "'kind'",
                                         "'needed'"]
    assert {c["primary_key"] for c in ours} == {"False"}
    monkeypatch.setattr(duckdb_engine.Dialect, "get_pk_constraint", gx_duckdb._original_pk_constraint)
    con.execute("CREATE TABLE work.keyed (id INTEGER PRIMARY KEY)")

    def cursor():
        c = con.cursor()
        c.execute("USE work")
        return duckdb_engine.ConnectionWrapper(c)

    engine = sa.create_engine("duckdb://", creator=cursor, poolclass=sa.pool.StaticPool)
    with pytest.raises(sa.exc.ProgrammingError, match="REGCLASS"):  # even a table with a key: GX never gets one
        sa.inspect(engine).get_pk_constraint("keyed")
    assert _column_metadata(con) == ours


# --------------------------------------------------------------------------- each private hook, loud on its own


def _break(monkeypatch, name: str) -> None:
    """Change the library the way an upgrade could, under the one hook `name` (undone by monkeypatch)."""
    import importlib

    import duckdb_engine
    from great_expectations.execution_engine import sqlalchemy_execution_engine as see
    from great_expectations.expectations import registry
    from great_expectations.expectations.metrics import util

    if name == "persisted_connection":
        monkeypatch.setattr(see, "_PERSISTED_CONNECTION_DIALECTS", ["sqlite"])
    elif name == "regex":
        monkeypatch.setattr(util, "get_dialect_regex_expression", lambda column, regex, dialect: None)
    elif name == "unique_count":
        providers = registry._registered_metrics[gx_duckdb.UNIQUE_COUNT_METRIC]["providers"]
        monkeypatch.setitem(providers, "SqlAlchemyExecutionEngine", (object, lambda *a, **k: 0))
    elif name == "empty_samples":
        module_name, fn = gx_duckdb.SAMPLE_VALUE_FUNCTIONS[0]
        monkeypatch.setattr(importlib.import_module(module_name), fn, lambda *a, **k: [])
    elif name == "no_primary_key_reflection":
        monkeypatch.setattr(duckdb_engine.Dialect, "get_pk_constraint", None)
    elif name == "rollback_after_failed_query":
        monkeypatch.setattr(see.SqlAlchemyExecutionEngine, "_execute_query_with_recovery",
                            staticmethod(lambda connection, query, retries: None))
    elif name == "connection_wrapper":
        monkeypatch.setattr(duckdb_engine, "ConnectionWrapper", lambda cursor: cursor)
    else:
        raise AssertionError(f"no way to break hook {name}: add one here")


def test_every_private_hook_is_listed_with_what_it_reaches():
    assert [h.name for h in gx_duckdb.HOOKS] == ["persisted_connection", "regex", "unique_count", "empty_samples",
                                                  "no_primary_key_reflection", "rollback_after_failed_query",
                                                  "connection_wrapper"]
    assert all(h.reaches and callable(h.check) and callable(h.in_place) for h in gx_duckdb.HOOKS)


@pytest.mark.parametrize("name", [h.name for h in gx_duckdb.HOOKS])
def test_each_private_hook_is_in_place_after_install(name):
    gx_duckdb.install()
    h = gx_duckdb.hook(name)
    h.check()  # the library is as the hook expects
    assert h.in_place()


@pytest.mark.parametrize("name", [h.name for h in gx_duckdb.HOOKS])
def test_each_private_hook_fails_loudly_when_the_library_changes(monkeypatch, name):
    gx_duckdb.install()
    _break(monkeypatch, name)
    with pytest.raises(gx_duckdb.GXInternalsChanged, match="written against great-expectations"):
        gx_duckdb.hook(name).check()
    with pytest.raises(gx_duckdb.GXInternalsChanged):
        gx_duckdb.install()  # and the stage will not start
