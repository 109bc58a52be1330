"""Validate: check every pending delivery of a run against the contract.

The Great Expectations suites in `expectations/<source>.json` are generated
from the contract (`build_suites`, `write_suites`) and checked against it
(`check_suites`); they are what runs. Each pending delivery is read by DuckDB
straight into an in-memory work table beside the warehouse (its text form as
`ingest.read_delivery` gives it, plus parsed companion columns
`<column>__yyyymmdd`, `__calendar`, `__number`, `__age_years`), never whole
into Python. There it is checked for direct identifiers first (data
minimisation), then validated in-database with GX's SQL engine on DuckDB
(`stratify.validate.gx_duckdb`), then checked for a pseudonymisation-key mismatch
against the register; the place's DuckDB `threads`, `memory_limit` and
temporary folder bound what a big delivery costs.

Results use GX's BASIC format without samples, so no delivered value reaches
the warehouse, the reasons or the Data Docs; reasons name the rule, the
column, how many rows failed and the first few row numbers (found by a DuckDB
query per failing rule, `stratify/sql/unexpected_rows/`). A GX error while
computing a check counts as a failure.
"""

from __future__ import annotations

import gc
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import great_expectations as gx
from great_expectations.expectations.row_conditions import Column as GXColumn

from stratify.config import PlaceConfig
from stratify.contract import Column, Source, load_contract
from stratify.ingest.discover import HEADER_ONLY, DeliveryReadError, delivery_read_error, delivery_select, quarantine_file
from stratify.resources import EXPECTATIONS_DIR
from stratify.run.context import RunContext, staging_dir
from stratify.validate import gx_duckdb
from stratify.warehouse.database import SQL_DIR, WarehouseError, connect, render_identifier, run_sql_file

log = logging.getLogger(__name__)

RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0, "include_unexpected_rows": False}
MAX_ROWS_SHOWN = 5
DATA_DOCS_SITE = "stratify_run"


class SuiteDriftError(RuntimeError):
    """The versioned suites in expectations/ do not match the contract."""


# --------------------------------------------------------------------------- suites


def _ymd(d: date) -> int:
    return d.year * 10000 + d.month * 100 + d.day


def _bound(value: Any, contract) -> Any:
    """A date bound of the contract as a yyyymmdd integer, or a suite parameter."""
    if value == "delivery_date":
        return {"$PARAMETER": "delivery_date_yyyymmdd"}
    if value == "min_event_date":
        return _ymd(contract.min_event_date)
    if isinstance(value, date):
        return _ymd(value)
    return value


def _suite_spec(source: Source) -> list[tuple[str, Any]]:
    """(id, Expectation) pairs for one source, in a fixed order."""
    contract = load_contract()
    types = contract.types
    src = source.name
    out: list[tuple[str, Any]] = []
    E = gx.expectations

    def add(eid: str, exp_cls, rule: str, for_column: str | None, severity: str = "critical", **kwargs):
        meta = {"id": f"{src}.{eid}", "rule": rule, "column": for_column, "contract_version": contract.version}
        out.append((f"{src}.{eid}", exp_cls(severity=severity, meta=meta, **kwargs)))

    add("table.row_count", E.ExpectTableRowCountToBeBetween, "the delivery has at least one data row", None, min_value=1)
    add("table.columns", E.ExpectTableColumnsToMatchSet,
        f"only the contract's {src} columns are delivered (data minimisation) and every required one is there",
        None, column_set=sorted(_frame_columns(source)), exact_match=True)
    for c in source.columns:
        n = c.name
        if c.required:
            add(f"{n}.exists", E.ExpectColumnToExist, f"required column {n} is present", n, column=n)
            add(f"{n}.not_null", E.ExpectColumnValuesToNotBeNull, f"{n} is required (no empty values)", n, column=n)
        if c.pattern:
            add(f"{n}.pattern", E.ExpectColumnValuesToMatchRegex,
                f"{n} matches the contract pattern `{c.pattern_name}` ({c.pattern})", n, column=n, regex=c.pattern)
        if c.codes is not None:
            add(f"{n}.codes", E.ExpectColumnValuesToBeInSet,
                f"{n} is one of the {src} codes of contract v{contract.version}", n, column=n, value_set=list(c.codes))
        if c.codes_from_config:
            add(f"{n}.codes", E.ExpectColumnValuesToBeInSet,
                f"{n} is one of the place's configured neighbourhood teams", n, column=n,
                value_set={"$PARAMETER": "teams"})
        text_pattern = types.get(c.type, {}).get("text_pattern")
        if text_pattern:
            article = "an" if c.type[0] in "aeiou" else "a"
            form = {"date": "YYYY-MM-DD", "boolean": "true/false", "integer": "a whole number",
                    "decimal": "a decimal number"}[c.type]
            add(f"{n}.text_form", E.ExpectColumnValuesToMatchRegex, f"{n} is {article} {c.type} written as {form}", n,
                column=n, regex=text_pattern)
        if c.type == "date":
            add(f"{n}.calendar_date", E.ExpectColumnValuesToBeInSet, f"{n} is a real calendar date", n,
                column=f"{n}__calendar", value_set=[True])
            if c.min is not None or c.max is not None:
                lo = _bound(c.min, contract) if c.min is not None else None
                hi = _bound(c.max, contract) if c.max is not None else None
                words = []
                if c.min is not None:
                    words.append(f"not before {contract.min_event_date.isoformat() if c.min == 'min_event_date' else c.min}")
                if c.max is not None:
                    words.append("not after the delivery date" if c.max == "delivery_date" else f"not after {c.max}")
                add(f"{n}.date_range", E.ExpectColumnValuesToBeBetween, f"{n} is {' and '.join(words)}", n,
                    column=f"{n}__yyyymmdd", min_value=lo, max_value=hi)
        if c.not_before:
            add(f"{n}.not_before_{c.not_before}", E.ExpectColumnPairValuesAToBeGreaterThanB,
                f"{n} is not before {c.not_before}", n, column_A=f"{n}__yyyymmdd",
                column_B=f"{c.not_before}__yyyymmdd", or_equal=True, ignore_row_if="either_value_is_missing")
        if c.type in ("integer", "decimal") and (c.min is not None or c.max is not None):
            add(f"{n}.range", E.ExpectColumnValuesToBeBetween, f"{n} is between {c.min} and {c.max}", n,
                column=f"{n}__number", min_value=c.min, max_value=c.max)
        if c.age_range:
            add(f"{n}.age_range", E.ExpectColumnValuesToBeBetween,
                f"{n} gives an age of {c.age_range[0]} to {c.age_range[1]} at the delivery date", n,
                column=f"{n}__age_years", min_value=c.age_range[0], max_value=c.age_range[1])
        if c.unique:
            add(f"{n}.unique", E.ExpectColumnValuesToBeUnique, f"{n} is unique within the delivery", n, column=n)
        if c.only_for_event_types:
            add(f"{n}.only_for_event_types", E.ExpectColumnValuesToBeNull,
                f"{n} is given only on event types {', '.join(c.only_for_event_types)}", n, severity="warning",
                column=n, row_condition=GXColumn(name="event_type").is_not_in(list(c.only_for_event_types)))
    return out


def _companions(c: Column) -> list[str]:
    out = []
    if c.type == "date":
        out += [f"{c.name}__calendar", f"{c.name}__yyyymmdd"]
    if c.type in ("integer", "decimal"):
        out.append(f"{c.name}__number")
    if c.age_range:
        out.append(f"{c.name}__age_years")
    return out


def _frame_columns(source: Source) -> list[str]:
    cols = list(source.column_names)
    for c in source.columns:
        cols += _companions(c)
    return cols


def build_suites() -> dict[str, gx.ExpectationSuite]:
    """One GX suite per source, generated from the contract."""
    contract = load_contract()
    suites = {}
    for name, source in contract.sources.items():
        suites[name] = gx.ExpectationSuite(
            name=name, meta={"contract_version": contract.version},
            expectations=[exp for _, exp in _suite_spec(source)])
    return suites


def _suite_dict(suite: gx.ExpectationSuite) -> dict:
    """A stable JSON form of a suite: no ids, no GX version, sorted keys."""
    d = suite.to_json_dict()
    exps = []
    for e in d["expectations"]:
        e = {k: v for k, v in e.items() if k not in ("id", "rendered_content", "notes") or v}
        e.pop("id", None)
        exps.append(e)
    return json.loads(json.dumps({
        "name": d["name"],
        "meta": {"contract_version": load_contract().version,
                 "generated_by": "stratify.validate.stage.write_suites (do not edit: generated from stratify/contract.yaml)",
                 "suite_parameters": {"delivery_date_yyyymmdd": "the date in the file name, as an integer yyyymmdd",
                                      "teams": "the place's configured neighbourhood teams"}},
        "expectations": exps,
    }, sort_keys=True, default=str))


def _render(d: dict) -> str:
    return json.dumps(d, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_suites(directory: Path = EXPECTATIONS_DIR) -> list[Path]:
    """Write one `<source>.json` per source (stable, sorted, pretty)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, suite in build_suites().items():
        p = directory / f"{name}.json"
        text = _render(_suite_dict(suite))
        if not p.exists() or p.read_text(encoding="utf-8") != text:
            p.write_text(text, encoding="utf-8")
        paths.append(p)
    return paths


def check_suites(directory: Path = EXPECTATIONS_DIR) -> list[str]:
    """Differences between the versioned suite files and the contract; empty when they agree."""
    directory = Path(directory)
    diffs = []
    expected = {n: _suite_dict(s) for n, s in build_suites().items()}
    present = {p.stem for p in directory.glob("*.json")} if directory.exists() else set()
    for extra in sorted(present - set(expected)):
        diffs.append(f"{extra}.json: suite for a source that is not in the contract")
    for name, want in expected.items():
        p = directory / f"{name}.json"
        if not p.exists():
            diffs.append(f"{name}.json: missing")
            continue
        try:
            have = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            diffs.append(f"{name}.json: not valid JSON ({exc})")
            continue
        if have == want:
            continue
        h = {e.get("meta", {}).get("id"): e for e in have.get("expectations", [])}
        w = {e["meta"]["id"]: e for e in want["expectations"]}
        for eid in sorted(set(w) - set(h), key=str):
            diffs.append(f"{name}.json: expectation {eid} is missing")
        for eid in sorted(set(h) - set(w), key=str):
            diffs.append(f"{name}.json: expectation {eid} is not in the contract")
        for eid in sorted(set(h) & set(w), key=str):
            if h[eid] != w[eid]:
                diffs.append(f"{name}.json: expectation {eid} differs from the contract")
        if [e.get("meta", {}).get("id") for e in have.get("expectations", [])] != list(w) and not any(
                d.startswith(f"{name}.json: expectation") for d in diffs):
            diffs.append(f"{name}.json: expectations are out of order")
        if {k: v for k, v in have.items() if k != "expectations"} != {k: v for k, v in want.items() if k != "expectations"}:
            diffs.append(f"{name}.json: suite name or meta differs")
    return diffs


def load_suite_dicts(directory: Path = EXPECTATIONS_DIR) -> dict[str, dict]:
    """The versioned suites, refusing to run if they have drifted from the contract."""
    diffs = check_suites(directory)
    if diffs:
        raise SuiteDriftError(
            "the suites in expectations/ do not match the contract (run `stratify expectations` and commit): "
            + "; ".join(diffs[:5])
        )
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(Path(directory).glob("*.json"))}


# --------------------------------------------------------------------------- the delivery in DuckDB

WORK_CATALOG = "stratify_work"  # an in-memory database attached to the warehouse connection
WORK_TABLE = f"{WORK_CATALOG}.delivery"
UNEXPECTED_ROWS_DIR = SQL_DIR / "unexpected_rows"


def _qi(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def open_workspace(con: duckdb.DuckDBPyConnection) -> None:
    """Attach the in-memory work database that holds one delivery at a time, and the run's register ids.

    It lives in the warehouse's DuckDB instance, so the place's `threads`,
    `memory_limit` and `temp_directory` apply: a delivery bigger than the
    limit spills to the temporary folder instead of growing the process. It
    is never written to a database file and is gone when the stage ends.
    """
    con.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {WORK_CATALOG}")
    con.execute(f"CREATE OR REPLACE TABLE {WORK_CATALOG}.run_register_ids (person_id VARCHAR)")
    con.execute(NHS_MACRO)


def close_workspace(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"DETACH DATABASE IF EXISTS {WORK_CATALOG}")


def _companion_sql(source: Source, present: set[str]) -> tuple[list[str], list[str]]:
    """Select items for the work table: (helpers over the text columns, final items over text and helpers).

    Final items: missing optional columns as nulls (missing required columns
    stay missing so the suite reports them), then the parsed companions. A
    date is matched and parsed once, in a helper, for both of its companions.
    Parameters: $date_text, $integer_text, $decimal_text, $year_month,
    $delivery_months.
    """
    helpers, items = [], []
    for i, c in enumerate(source.columns):
        n = c.name
        col = _qi(n) if n in present else "CAST(NULL AS VARCHAR)"
        if n not in present and not c.required:
            items.append(f"CAST(NULL AS VARCHAR) AS {_qi(n)}")
        if c.type == "date":
            form, parsed = f"__stratify_form_{i}", f"__stratify_parsed_{i}"
            helpers.append(f"regexp_full_match({col}, $date_text) AS {form}")
            helpers.append(f"try_strptime({col}, '%Y-%m-%d') AS {parsed}")
            items.append(f"CASE WHEN {form} THEN {parsed} IS NOT NULL END AS {_qi(n + '__calendar')}")
            items.append(f"CAST(CASE WHEN {form} THEN year({parsed}) * 10000 + month({parsed}) * 100 + day({parsed}) END "
                         f"AS DOUBLE) AS {_qi(n + '__yyyymmdd')}")
        if c.type in ("integer", "decimal"):
            items.append(f"CASE WHEN regexp_matches({col}, ${c.type}_text) THEN TRY_CAST({col} AS DOUBLE) END "
                         f"AS {_qi(n + '__number')}")
        if c.age_range:
            items.append(
                f"CASE WHEN regexp_matches({col}, $year_month) THEN "
                f"CAST(floor(($delivery_months - (CAST(substr({col}, 1, 4) AS INTEGER) * 12 "
                f"+ CAST(substr({col}, 6, 2) AS INTEGER) - 1)) / 12.0) AS DOUBLE) END AS {_qi(n + '__age_years')}")
    return helpers, items


def load_work_table(con: duckdb.DuckDBPyConnection, path: Path, source: Source, delivery_date: date) -> tuple[int, list[str]]:
    """Read a delivery straight into the work table: its text columns plus parsed companions, all in DuckDB.

    Returns (rows, delivered column names). One pass over the file, nothing
    in Python: the same text form as `ingest.read_delivery` (so the same
    reasons for unreadable files), with the companion columns the suites
    check (`<column>__yyyymmdd`, `__calendar`, `__number`, `__age_years`).
    Table order is file order (DuckDB preserves insertion order), so
    `rowid + 1` is the data row number. Raises `DeliveryReadError`.
    """
    contract = load_contract()
    text_sql = delivery_select(con, path, source)
    try:
        delivered = [r[0] for r in con.execute(f"DESCRIBE {text_sql}").fetchall()]
    except duckdb.Error as exc:
        raise delivery_read_error(path, exc) from None
    reserved = sorted(set(delivered) & ({n for c in source.columns for n in _companions(c)}
                                        | {n for n in delivered if n.startswith("__stratify_")}))
    if reserved:  # a delivered column would clash with a parsed companion or helper of the work table
        raise DeliveryReadError(path, f"column(s) {', '.join(reserved)} are not in the contract for this source "
                                      "(data minimisation: deliver only the contract's columns)")
    helpers, items = _companion_sql(source, set(delivered))
    inner = f"SELECT {', '.join(['t0.*'] + helpers)} FROM ({text_sql}) AS t0"
    keep = "t.*" + (f" EXCLUDE ({', '.join(h.rsplit(' AS ', 1)[1] for h in helpers)})" if helpers else "")
    sql = f"CREATE OR REPLACE TABLE {WORK_TABLE} AS SELECT {', '.join([keep] + items)} FROM ({inner}) AS t"
    values = {"date_text": contract.types["date"]["text_pattern"].strip("^$"),
              "integer_text": contract.types["integer"]["text_pattern"],
              "decimal_text": contract.types["decimal"]["text_pattern"],
              "year_month": contract.patterns["year_month"],
              "delivery_months": delivery_date.year * 12 + delivery_date.month - 1}
    params = {k: v for k, v in values.items() if f"${k}" in sql}
    try:
        con.execute(sql, params) if params else con.execute(sql)
    except duckdb.Error as exc:
        raise delivery_read_error(path, exc) from None
    rows = con.execute(f"SELECT count(*) FROM {WORK_TABLE}").fetchall()[0][0]
    if rows == 0:
        raise DeliveryReadError(path, HEADER_ONLY)
    return rows, delivered


def drop_work_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"DROP TABLE IF EXISTS {WORK_TABLE}")


NHS_MACRO = (
    "CREATE OR REPLACE TEMP MACRO stratify_nhs_int_ok(n) AS "
    "((11 - (" + " + ".join(f"((n // {10 ** (10 - i)}) % 10) * {11 - i}" for i in range(1, 10)) + ") % 11) % 11) = n % 10"
)
# exactly ten digits, possibly grouped by spaces or hyphens (943 476 5919), in 10 to 13 characters
NHS_CANDIDATE = "[ -]*(?:[0-9][ -]*){10}"


def parquet_columns_without_digits(con: duckdb.DuckDBPyConnection, path: Path) -> set[str]:
    """Columns of a Parquet delivery typed DATE, TIMESTAMP or BOOLEAN: their text can never be ten digits.

    The NHS-number scan skips them (on a big delivery the date columns are
    most of its cost); a CSV has no types, so every column is scanned.
    """
    if Path(path).suffix.lower() != ".parquet":
        return set()
    try:
        described = con.execute("SELECT * FROM read_parquet($path) LIMIT 0", {"path": str(path)}).description
    except duckdb.Error:
        return set()
    return {name for name, type_code, *_ in described
            if str(type_code).upper() in ("DATE", "BOOLEAN") or str(type_code).upper().startswith("TIMESTAMP")}


def identifier_findings(con: duckdb.DuckDBPyConnection, columns: list[str],
                        without_digits: set[str] = frozenset()) -> list[dict]:
    """Direct identifiers in the work table: columns named like one, and valid NHS numbers in any column.

    Each finding names the column, the kind, how many rows and the first row
    numbers; never a value. NHS numbers are found by DuckDB: a value of 10
    to 13 characters that is ten digits (possibly grouped by spaces or
    hyphens) and passes the modulus-11 check digit, by integer arithmetic.
    One regular expression per value of a possible length, and the digits
    are only taken out of the values it matches: the scan reads every
    column of a big delivery, so it is kept cheap. Columns in
    `without_digits` (see `parquet_columns_without_digits`) are not read.

    Two passes: the first counts ten-digit candidates in every column; the
    check digit is computed only in a second pass over the columns that
    have any (usually none). Why: the check-digit macro repeats its argument
    ten times, and DuckDB took some 5 ms per column just to plan it, most
    of a small delivery's scan; in the second pass it reads a column of
    the candidates computed once.
    """
    contract = load_contract()
    findings = []
    for name in columns:
        kind = contract.identifier_kind(name)
        if kind:
            findings.append({"column": name, "kind": kind, "by": "name", "rows": None, "first_rows": []})

    def nhs_int(name: str) -> str:
        c = _qi(name)
        # nested CASEs: each step only runs on the values that passed the one before
        return (f"CASE WHEN length({c}) BETWEEN 10 AND 13 THEN CASE WHEN regexp_full_match({c}, $nhs) "
                f"THEN CAST(regexp_replace({c}, '[ -]', '', 'g') AS BIGINT) END END")

    scanned = [n for n in columns if n not in without_digits]
    if not scanned:
        return findings
    candidates = con.execute("SELECT " + ", ".join(f"count({nhs_int(n)})" for n in scanned) + f" FROM {WORK_TABLE}",
                             {"nhs": NHS_CANDIDATE}).fetchall()[0]
    suspects = [n for n, k in zip(scanned, candidates) if k]
    if not suspects:
        return findings
    digits = ", ".join(f"{nhs_int(n)} AS __stratify_nhs_{i}" for i, n in enumerate(suspects))
    checks = ", ".join(f"count(*) FILTER (WHERE stratify_nhs_int_ok(__stratify_nhs_{i}))" for i in range(len(suspects)))
    counts = con.execute(f"SELECT {checks} FROM (SELECT {digits} FROM {WORK_TABLE})",
                         {"nhs": NHS_CANDIDATE}).fetchall()[0]
    for name, n in zip(suspects, counts):
        if n:
            first = con.execute(
                f"SELECT rowid + 1 FROM {WORK_TABLE} WHERE stratify_nhs_int_ok({nhs_int(name)}) ORDER BY rowid "
                f"LIMIT {MAX_ROWS_SHOWN}", {"nhs": NHS_CANDIDATE}).fetchall()
            findings.append({"column": name, "kind": "nhs_number", "by": "value", "rows": int(n),
                             "first_rows": [int(r[0]) for r in first]})
    return findings


def _rows_text(rows: list[int], n: int) -> str:
    shown = ", ".join(str(r) for r in rows[:MAX_ROWS_SHOWN])
    more = ", ..." if n > len(rows[:MAX_ROWS_SHOWN]) else ""
    return f"data row{'s' if n != 1 else ''} {shown}{more}" if shown else ""


def _unexpected_rows(con: duckdb.DuckDBPyConnection, source: Source, exp: dict, params: dict) -> list[int]:
    """First row numbers (1-based data rows) that broke a map expectation, by a DuckDB query; never values.

    One SQL file per expectation type in `stratify/sql/unexpected_rows/`,
    with the suite's columns (checked against the contract's) and its values
    bound as parameters. Unknown types give no row numbers (the count stays).
    """
    t, kw = exp["type"], exp["kwargs"]
    path = UNEXPECTED_ROWS_DIR / f"{t}.sql"
    if not path.exists():
        return []

    def param(v):
        return params.get(v["$PARAMETER"]) if isinstance(v, dict) and "$PARAMETER" in v else v

    allowed = frozenset(_frame_columns(source))
    names = {"column": kw.get("column"), "column_a": kw.get("column_A"), "column_b": kw.get("column_B")}
    values: dict[str, Any] = {"limit": MAX_ROWS_SHOWN, "regex": kw.get("regex"),
                              "min_value": param(kw.get("min_value")), "max_value": param(kw.get("max_value")),
                              "or_equal": bool(kw.get("or_equal"))}
    if "value_set" in kw:
        values["value_set"] = list(param(kw["value_set"]) or []) or [None]
    cond = kw.get("row_condition")
    if t == "expect_column_values_to_be_null":
        if not (isinstance(cond, dict) and cond.get("operator") == "NOT_IN"):
            return []
        names["condition_column"] = cond["column"]["name"]
        values["condition_values"] = list(cond["parameter"]) or [None]
    try:
        subs = {k: render_identifier(v, allowed) for k, v in names.items() if v is not None}
        run_sql_file(con, path, values, step="first failing rows", substitutions=subs)
        return [int(r[0]) for r in con.fetchall()]
    except WarehouseError:
        log.warning("could not find the first failing rows for %s", exp.get("meta", {}).get("id", t), exc_info=True)
        return []


# --------------------------------------------------------------------------- GX


class _GX:
    """One ephemeral GX context for a validation stage, with a local Data Docs site.

    Suites run on GX's SQL engine over DuckDB (see `stratify.validate.gx_duckdb`),
    in-database, on the work table of the warehouse connection.
    """

    def __init__(self, suites: dict[str, dict], docs_dir: Path):
        from great_expectations.data_context.types.base import ProgressBarsConfig

        gx_duckdb.install()
        self.context = gx.get_context(mode="ephemeral")
        try:
            self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        except Exception:  # progress bars are cosmetic
            pass
        self.docs_dir = docs_dir
        from stratify.validate.data_docs import site_views  # GX's views, compiling each template once

        self.context.add_data_docs_site(site_name=DATA_DOCS_SITE, site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            **site_views(),
        })
        self.suites = suites
        self.gx_suites: dict[str, Any] = {}
        self.ran = 0

    def suite(self, source: str):
        if source not in self.gx_suites:
            d = dict(self.suites[source])
            suite = gx.ExpectationSuite(name=d["name"], expectations=d["expectations"], meta=d.get("meta"))
            self.gx_suites[source] = self.context.suites.add(suite)
        return self.gx_suites[source]

    def partial_suite(self, source: str, delivery_id: int, left_out: set[str]):
        """The source's suite without the expectations in `left_out` (their columns are missing)."""
        d = self.suites[source]
        return self.context.suites.add(gx.ExpectationSuite(
            name=f"{d['name']}_without_missing_columns_{delivery_id}", meta=d.get("meta"),
            expectations=[e for e in d["expectations"] if e["meta"]["id"] not in left_out]))

    def run(self, con: duckdb.DuckDBPyConnection, source: str, delivery_id: int, params: dict, run_name: str,
            left_out: set[str] = frozenset()):
        """Validate the work table with the source's suite; GX's connection is closed again on return.

        GX's SQL engine computes a domain's metrics in one query, so one
        expectation on a column that is not there would make every other one
        error: those in `left_out` are not run (the caller records them as not
        evaluated), the rest of the versioned suite is.
        """
        from great_expectations.core.run_identifier import RunIdentifier

        suite = self.partial_suite(source, delivery_id, left_out) if left_out else self.suite(source)
        ds = gx_duckdb.duckdb_datasource(self.context, f"delivery_{delivery_id}", con, catalog=WORK_CATALOG)
        try:
            batch = ds.add_table_asset(source, table_name=WORK_TABLE.split(".", 1)[1]).add_batch_definition_whole_table(
                f"{source}_delivery")
            validation = self.context.validation_definitions.add(
                gx.ValidationDefinition(name=f"{source}_contract_v1_{delivery_id}", data=batch, suite=suite))
            self.ran += 1
            return validation.run(
                expectation_parameters=params, result_format=RESULT_FORMAT,
                run_id=RunIdentifier(run_name=run_name, run_time=datetime.now(UTC)),
            )
        finally:
            gx_duckdb.close_datasource(self.context, ds)

    def build_docs(self) -> Path | None:
        if not self.ran:
            return None
        self.context.build_data_docs(site_names=[DATA_DOCS_SITE])
        from stratify.validate.data_docs import make_offline  # no CDN scripts/styles, owner/group-only modes
        make_offline(self.docs_dir)
        return self.docs_dir / "index.html"


# --------------------------------------------------------------------------- stage


def _referenced_columns(exp: dict) -> set[str]:
    """The columns an expectation reads, its row condition's included."""
    kw = exp["kwargs"]
    cols = {kw[k] for k in ("column", "column_A", "column_B") if kw.get(k)}
    cond = kw.get("row_condition")
    if isinstance(cond, dict) and isinstance(cond.get("column"), dict) and cond["column"].get("name"):
        cols.add(cond["column"]["name"])
    return cols


def _left_out(suite: dict, columns: set[str]) -> dict[str, tuple[dict, set[str]]]:
    """Expectations (by id, with the columns they lack) that read a column the work table does not have.

    `expect_column_to_exist` always runs: it is what reports the missing column.
    """
    out = {}
    for e in suite["expectations"]:
        lacking = _referenced_columns(e) - columns
        if lacking and e["type"] != "expect_column_to_exist":
            out[e["meta"]["id"]] = (e, lacking)
    return out


def _result_rows(con: duckdb.DuckDBPyConnection, source: Source, run_id: str, delivery_id: int, results,
                 suite: dict, params: dict, left_out: dict[str, tuple[dict, set[str]]],
                 n_rows: int) -> tuple[list[list], list[str], list[str]]:
    """validation_results rows plus the critical and warning messages for the reason.

    Expectations left out because a column is missing get a failed row saying
    so (the missing column's own `.exists` failure carries the message).
    """
    by_id = {e["meta"]["id"]: e for e in suite["expectations"]}
    rows, critical, warning = [], [], []
    for eid, (e, lacking) in left_out.items():
        rows.append([run_id, delivery_id, eid, e["meta"].get("column"), e.get("severity", "critical"), False, n_rows,
                     None, f"{e['meta'].get('rule', '')} - not evaluated: column {', '.join(sorted(lacking))} is missing"])
    for r in results.results:
        cfg = r.expectation_config
        meta = cfg.meta or {}
        eid = meta.get("id", cfg.type)
        column = meta.get("column")
        severity = str(getattr(cfg.severity, "value", cfg.severity) or "critical")
        res = r.result or {}
        errored = _errored(r.exception_info)
        success = bool(r.success) and not errored
        unexpected = res.get("unexpected_count")
        detail = meta.get("rule", "")
        message = None
        if not success:
            if errored:
                detail += " - could not be evaluated (GX error); treated as a failure"
                message = f"{column or 'table'}: {meta.get('rule')} could not be evaluated"
            elif cfg.type == "expect_table_columns_to_match_set":
                mism = (res.get("details") or {}).get("mismatched") or {}
                unknown = sorted(set(mism.get("unexpected") or []))
                if unknown:
                    detail += f" - columns not in the contract: {', '.join(unknown)}"
                    message = (f"column(s) {', '.join(unknown)} are not in the contract for this source "
                               "(data minimisation: deliver only the contract's columns)")
                else:
                    detail += " - a required column is missing"
            elif cfg.type == "expect_column_to_exist":
                detail += " - the column is missing"
                message = f"required column {column} is missing"
            elif cfg.type == "expect_table_row_count_to_be_between":
                message = "the delivery has no data rows"
            else:
                first = _unexpected_rows(con, source, by_id.get(eid, {"type": cfg.type, "kwargs": cfg.kwargs}), params)
                count = f"{unexpected} of {n_rows} rows" if unexpected is not None else "some rows"
                where = _rows_text(first, unexpected or len(first))
                detail += f" - failed in {count}" + (f" ({where})" if where else "")
                message = f"{column}: {meta.get('rule')} - failed in {count}" + (f" ({where})" if where else "") + f" [{eid}]"
            if message:
                (critical if severity == "critical" else warning).append(message)
        rows.append([run_id, delivery_id, eid, column, severity, success, res.get("element_count", n_rows),
                     unexpected, detail])
    return rows, critical, warning


def _errored(info) -> bool:
    """True if GX reported an exception while computing a metric (never count that as a pass)."""
    if not info:
        return False
    if isinstance(info, dict) and "raised_exception" in info:
        return bool(info.get("raised_exception") or info.get("exception_message"))
    if isinstance(info, dict):
        return any(_errored(v) for v in info.values())
    return True


def _has_register(con: duckdb.DuckDBPyConnection) -> bool:
    """True if a register was loaded before or accepted earlier in this run."""
    return con.execute(
        f"SELECT (SELECT count(*) FROM raw_register WHERE superseded_on IS NULL) "
        f"+ (SELECT count(*) FROM {WORK_CATALOG}.run_register_ids)").fetchall()[0][0] > 0


def _key_mismatch(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(distinct person_ids of the work table, how many of them match no registered person)."""
    run_sql_file(con, SQL_DIR / "validate_key_mismatch.sql", step="key mismatch")
    total, unmatched = con.fetchall()[0]
    return int(total), int(unmatched)


def _ordered_pending(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple]:
    return con.execute(
        """
        SELECT delivery_id, source, file_name, stored_path, delivery_date, delivery_seq
        FROM deliveries WHERE run_id = $run AND decision = 'pending'
        ORDER BY (source = 'register') DESC, delivery_date, delivery_seq, delivery_id
        """,
        {"run": run_id},
    ).fetchall()


def _join(messages: list[str], limit: int = 8) -> str:
    more = f"; and {len(messages) - limit} more" if len(messages) > limit else ""
    return "; ".join(messages[:limit]) + more


@dataclass
class Verdict:
    """What validation decided about one delivery, and the validation_results rows behind it."""

    decision: str = "accepted"
    reason: str | None = None
    rows: int | None = None
    results: list[list] = field(default_factory=list)


def validate_delivery(cfg: PlaceConfig, ctx: RunContext, con: duckdb.DuckDBPyConnection, gxr: _GX,
                      delivery_id: int, source: Source, file_name: str, path: Path, delivery_date: date) -> Verdict:
    """Decide one delivery: readable, no direct identifiers, its suite, no key mismatch.

    The delivery is read into the work table (in DuckDB, never whole in
    Python), checked there, and dropped again; `open_workspace(con)` first.
    """
    v = Verdict()
    suites = gxr.suites

    def refuse(why: str, check: str, column: str | None = None) -> None:
        v.results.append([ctx.run_id, delivery_id, check, column, "critical", False, v.rows, None, why])
        v.decision, v.reason = "refused", f"{file_name}: refused: {why}"

    try:
        v.rows, delivered = load_work_table(con, path, source, delivery_date)
    except DeliveryReadError as exc:
        refuse(exc.reason, "stratify.read")
        return v
    try:
        findings = identifier_findings(con, delivered, parquet_columns_without_digits(con, path))
        if findings:
            parts = []
            for f in findings:
                if f["by"] == "name":
                    parts.append(f"column {f['column']} is named like a direct identifier ({f['kind']})")
                else:
                    parts.append(f"column {f['column']} holds {f['rows']} valid NHS number(s) "
                                 f"({_rows_text(f['first_rows'], f['rows'])})")
            refuse("data minimisation: " + "; ".join(parts) + ". No extract may carry a direct identifier; "
                   "the whole delivery is refused", "stratify.data_minimisation",
                   ", ".join(f["column"] for f in findings))
            return v
        params = {"delivery_date_yyyymmdd": _ymd(delivery_date),
                  "teams": list(cfg.teams) if source.kind == "outcome" else []}
        columns = {r[0] for r in con.execute(f"DESCRIBE {WORK_TABLE}").fetchall()}
        left_out = _left_out(suites[source.name], columns)
        res = gxr.run(con, source.name, delivery_id, params, run_name=f"{ctx.run_id}-{delivery_id}-{file_name}",
                      left_out=set(left_out))
        rows, critical, warns = _result_rows(con, source, ctx.run_id, delivery_id, res, suites[source.name], params,
                                             left_out, v.rows)
        v.results += rows
        if critical:
            v.decision, v.reason = "refused", f"{file_name}: refused: {_join(critical)}"
            return v
        if source.kind != "register":
            if not _has_register(con):
                refuse("no person register has been accepted yet, so the pseudonyms cannot be checked against it "
                       "(key mismatch check); deliver the register first, then deliver this file again",
                       "stratify.key_mismatch", "person_id")
                return v
            total, unmatched = _key_mismatch(con)
            share = unmatched / total if total else 0.0
            ok = share <= cfg.validation.key_mismatch_share
            detail = (f"{unmatched} of {total} distinct person_id pseudonyms ({share:.0%}) match no registered "
                      f"person; limit {cfg.validation.key_mismatch_share:.0%}")
            v.results.append([ctx.run_id, delivery_id, "stratify.key_mismatch", "person_id", "critical",
                              ok, total, unmatched, detail])
            if not ok:
                v.decision = "held"
                v.reason = (f"{file_name}: held: key mismatch: {detail}. The pseudonymisation key may have "
                            "changed upstream; check with the trusted third party before releasing it")
                return v
        if warns:
            v.decision, v.reason = "accepted_with_warnings", f"{file_name}: loaded with warnings: {_join(warns)}"
        if source.kind == "register":
            run_sql_file(con, SQL_DIR / "validate_remember_register.sql", step="remember the run's register")
        return v
    finally:
        drop_work_table(con)


RESULT_COLUMNS = ("run_id", "delivery_id", "expectation", "column_name", "severity", "success", "element_count",
                  "unexpected_count", "detail")
INSERT_RESULTS_SQL = (
    f"INSERT INTO validation_results ({', '.join(RESULT_COLUMNS)}) "
    f"SELECT {', '.join(f'unnest(${c})' for c in RESULT_COLUMNS)}"
)
UPDATE_DELIVERY_SQL = "UPDATE deliveries SET decision = $d, reason = $r, rows = $n, stored_path = $p WHERE delivery_id = $id"


def record_verdict(con: duckdb.DuckDBPyConnection, delivery_id: int, v: Verdict, stored_path: str) -> None:
    """Write one delivery's validation_results rows and its decision in one transaction.

    Why one statement and one commit: row by row (`executemany`) every row
    was its own auto-committed statement on the warehouse file, about 4 ms
    each, a fifth of a typical night's validation. The rows go in as one
    INSERT over parameter lists (one list per column, unnested side by side
    in their order), and the decision lands with its results or not at all.
    """
    con.begin()
    try:
        if v.results:
            con.execute(INSERT_RESULTS_SQL, {c: list(values) for c, values in zip(RESULT_COLUMNS, zip(*v.results))})
        con.execute(UPDATE_DELIVERY_SQL, {"d": v.decision, "r": v.reason, "n": v.rows, "p": stored_path,
                                          "id": delivery_id})
        con.commit()
    except BaseException:
        con.rollback()
        raise


@contextmanager
def earlier_objects_frozen() -> Iterator[None]:
    """Keep the objects that existed before the stage out of the garbage collector's full passes while it runs.

    Why: importing GX, SQLAlchemy and pandas leaves some 270,000 tracked
    objects, and GX allocates enough per delivery that CPython runs full
    collections, each walking all of them: about 0.3 s of a typical night's
    validation. `gc.freeze()` sets them aside for the stage; `gc.unfreeze()`
    gives them back to the oldest generation, so nothing outlives its time.
    Objects made during the stage are collected as usual.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def validate_deliveries(cfg: PlaceConfig, ctx: RunContext) -> dict:
    """Decide every pending delivery of the run: accepted, accepted_with_warnings, held or refused."""
    with earlier_objects_frozen():
        return _decide_pending(cfg, ctx)


def _decide_pending(cfg: PlaceConfig, ctx: RunContext) -> dict:
    """Validate, record and quarantine each pending delivery in order, then build the run's Data Docs."""
    contract = load_contract()
    suites = load_suite_dicts()
    docs_dir = staging_dir(cfg, ctx) / "validation" / "data_docs"
    docs_dir.mkdir(parents=True, exist_ok=True)
    gxr = _GX(suites, docs_dir)
    summary: dict[str, Any] = {"run_id": ctx.run_id, "deliveries": [], "data_docs": None}
    with connect(cfg) as con:
        open_workspace(con)
        try:
            for delivery_id, source_name, file_name, stored_path, delivery_date, _seq in _ordered_pending(con, ctx.run_id):
                started = time.perf_counter()
                path = Path(stored_path)
                v = validate_delivery(cfg, ctx, con, gxr, delivery_id, contract.source(source_name), file_name,
                                      path, delivery_date)
                stored = stored_path
                if v.decision in ("refused", "held"):
                    stored = str(quarantine_file(cfg, path, source_name, v.reason)) if path.exists() else stored_path
                record_verdict(con, delivery_id, v, stored)
                summary["deliveries"].append({"delivery_id": delivery_id, "source": source_name, "file": file_name,
                                              "rows": v.rows, "decision": v.decision, "reason": v.reason,
                                              "seconds": round(time.perf_counter() - started, 2)})
        finally:
            close_workspace(con)
    index = gxr.build_docs()
    summary["data_docs"] = str(index) if index else None
    counts: dict[str, int] = {}
    for d in summary["deliveries"]:
        counts[d["decision"]] = counts.get(d["decision"], 0) + 1
    summary["counts"] = counts
    return summary
