"""Validate: check every pending delivery of a run against the contract.

The Great Expectations suites in `expectations/<source>.json` are generated
from the contract (`build_suites`, `write_suites`) and checked against it
(`check_suites`); they are what runs. Each pending delivery is read as text
(`ingest.read_delivery`), checked for direct identifiers first (data
minimisation), then validated with GX's pandas engine on the text columns
plus parsed companion columns (`<column>__yyyymmdd`, `__calendar`,
`__number`, `__age_years`) computed by DuckDB, then checked for a
pseudonymisation-key mismatch against the register.

Results use GX's BASIC format without samples, so no delivered value reaches
the warehouse, the reasons or the Data Docs; reasons name the rule, the
column, how many rows failed and the first few row numbers.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import great_expectations as gx
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from great_expectations.expectations.row_conditions import Column as GXColumn

from stratify.config import PlaceConfig
from stratify.context import RunContext, staging_dir
from stratify.contract import Column, Source, load_contract
from stratify.ingest import DeliveryReadError, quarantine_file, read_delivery
from stratify.warehouse import PROJECT_ROOT, connect

log = logging.getLogger(__name__)

EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
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
                 "generated_by": "stratify.validate.write_suites (do not edit: generated from stratify/contract.yaml)",
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


# --------------------------------------------------------------------------- frames


def _sql_str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _qi(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def validation_frame(con: duckdb.DuckDBPyConnection, text: pa.Table, source: Source, delivery_date: date) -> pd.DataFrame:
    """The text columns plus parsed companion columns, computed by DuckDB (no Python row loops).

    Missing optional columns are added as nulls (optional means they may be
    absent); missing required columns stay missing so the suite reports them.
    """
    contract = load_contract()
    present = set(text.column_names)
    con.register("v_text", text)
    select = [_qi(n) for n in text.column_names]
    for c in source.columns:
        n = c.name
        col = _qi(n) if n in present else "CAST(NULL AS VARCHAR)"
        if n not in present and not c.required:
            select.append(f"CAST(NULL AS VARCHAR) AS {_qi(n)}")
        if c.type == "date":
            fmt_ok = f"regexp_full_match({col}, {_sql_str(contract.types['date']['text_pattern'].strip('^$'))})"
            parsed = f"try_strptime({col}, '%Y-%m-%d')"
            select.append(f"CASE WHEN {fmt_ok} THEN {parsed} IS NOT NULL END AS {_qi(n + '__calendar')}")
            select.append(f"CAST(CASE WHEN {fmt_ok} THEN CAST(strftime({parsed}, '%Y%m%d') AS BIGINT) END AS DOUBLE) "
                          f"AS {_qi(n + '__yyyymmdd')}")
        if c.type in ("integer", "decimal"):
            pat = contract.types[c.type]["text_pattern"]
            select.append(f"CASE WHEN regexp_matches({col}, {_sql_str(pat)}) THEN TRY_CAST({col} AS DOUBLE) END "
                          f"AS {_qi(n + '__number')}")
        if c.age_range:
            months = delivery_date.year * 12 + delivery_date.month - 1
            select.append(
                f"CASE WHEN regexp_matches({col}, {_sql_str(contract.patterns['year_month'])}) THEN "
                f"CAST(floor(({months} - (CAST(substr({col}, 1, 4) AS INTEGER) * 12 "
                f"+ CAST(substr({col}, 6, 2) AS INTEGER) - 1)) / 12.0) AS DOUBLE) END AS {_qi(n + '__age_years')}")
    try:
        out = con.sql(f"SELECT {', '.join(select)} FROM v_text").to_arrow_table()
    finally:
        con.unregister("v_text")
    return out.to_pandas()


NHS_MACRO = (
    "CREATE OR REPLACE TEMP MACRO stratify_nhs_int_ok(n) AS "
    "((11 - (" + " + ".join(f"((n // {10 ** (10 - i)}) % 10) * {11 - i}" for i in range(1, 10)) + ") % 11) % 11) = n % 10"
)
NHS_CANDIDATE = "[0-9 -]{10,13}"  # ten digits, possibly grouped with spaces or hyphens (943 476 5919)


def identifier_findings(con: duckdb.DuckDBPyConnection, text: pa.Table) -> list[dict]:
    """Direct identifiers in a delivery: columns named like one, and valid NHS numbers in any column.

    Each finding names the column, the kind, how many rows and the first row
    numbers; never a value. NHS numbers are found by DuckDB (a regular
    expression and the modulus-11 check digit, vectorised).
    """
    contract = load_contract()
    findings = []
    for name in text.column_names:
        kind = contract.identifier_kind(name)
        if kind:
            findings.append({"column": name, "kind": kind, "by": "name", "rows": None, "first_rows": []})
    con.execute(NHS_MACRO)
    con.register("v_scan", text)
    try:
        # candidates by a regular expression, the modulus-11 check digit by integer arithmetic, all in DuckDB
        names = text.column_names
        strip = ", ".join(
            f"CASE WHEN regexp_full_match({_qi(n)}, '{NHS_CANDIDATE}') THEN regexp_replace({_qi(n)}, '[ -]', '', 'g') END AS s{i}"
            for i, n in enumerate(names))
        ints = ", ".join(f"CASE WHEN length(s{i}) = 10 THEN TRY_CAST(s{i} AS BIGINT) END AS n{i}" for i in range(len(names)))
        base = f"SELECT rn, {ints} FROM (SELECT row_number() OVER () AS rn, {strip} FROM v_scan)"
        counts = con.execute(
            "SELECT " + ", ".join(f"count(*) FILTER (WHERE stratify_nhs_int_ok(n{i}))" for i in range(len(names)))
            + f" FROM (SELECT {ints} FROM (SELECT {strip} FROM v_scan))"
        ).fetchall()[0]
        for i, (name, n) in enumerate(zip(names, counts)):
            if not n:
                continue
            first = con.execute(
                f"SELECT rn FROM ({base}) WHERE stratify_nhs_int_ok(n{i}) ORDER BY rn LIMIT {MAX_ROWS_SHOWN}"
            ).fetchall()
            findings.append({"column": name, "kind": "nhs_number", "by": "value", "rows": int(n),
                             "first_rows": [int(r[0]) for r in first]})
    finally:
        con.unregister("v_scan")
    return findings


def _rows_text(rows: list[int], n: int) -> str:
    shown = ", ".join(str(r) for r in rows[:MAX_ROWS_SHOWN])
    more = ", ..." if n > len(rows[:MAX_ROWS_SHOWN]) else ""
    return f"data row{'s' if n != 1 else ''} {shown}{more}" if shown else ""


def _unexpected_rows(df: pd.DataFrame, exp: dict, params: dict) -> list[int]:
    """First row numbers (1-based data rows) that broke a map expectation; values are never returned."""
    t, kw = exp["type"], exp["kwargs"]

    def param(v):
        return params.get(v["$PARAMETER"]) if isinstance(v, dict) and "$PARAMETER" in v else v

    try:
        if t in ("expect_column_values_to_match_regex", "expect_column_values_to_be_in_set",
                 "expect_column_values_to_not_be_null", "expect_column_values_to_be_between",
                 "expect_column_values_to_be_unique", "expect_column_values_to_be_null"):
            col = df[kw["column"]]
            nn = col.notna()
            if t == "expect_column_values_to_match_regex":
                mask = nn & ~col.astype("str").str.contains(kw["regex"], regex=True).fillna(False).astype(bool)
            elif t == "expect_column_values_to_be_in_set":
                mask = nn & ~col.isin(list(param(kw["value_set"])))
            elif t == "expect_column_values_to_not_be_null":
                mask = ~nn
            elif t == "expect_column_values_to_be_between":
                lo, hi = param(kw.get("min_value")), param(kw.get("max_value"))
                mask = pd.Series(False, index=df.index)
                if lo is not None:
                    mask |= nn & (col < lo)
                if hi is not None:
                    mask |= nn & (col > hi)
            elif t == "expect_column_values_to_be_unique":
                mask = nn & col.duplicated(keep=False)
            else:
                cond = kw.get("row_condition") or {}
                other = df[cond["column"]["name"]]
                mask = nn & ~other.isin(cond["parameter"])
        elif t == "expect_column_pair_values_a_to_be_greater_than_b":
            a, b = df[kw["column_A"]], df[kw["column_B"]]
            mask = a.notna() & b.notna() & (a < b)
        else:
            return []
        idx = mask.to_numpy().nonzero()[0][:MAX_ROWS_SHOWN]
        return [int(i) + 1 for i in idx]
    except (KeyError, TypeError, ValueError):
        return []


# --------------------------------------------------------------------------- GX


class _GX:
    """One ephemeral GX context for a validation stage, with a local Data Docs site."""

    def __init__(self, suites: dict[str, dict], docs_dir: Path):
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.context = gx.get_context(mode="ephemeral")
        try:
            self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        except Exception:  # progress bars are cosmetic
            pass
        self.docs_dir = docs_dir
        self.context.add_data_docs_site(site_name=DATA_DOCS_SITE, site_config={
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
        })
        self.datasource = self.context.data_sources.add_pandas("deliveries")
        self.suites = suites
        self.validations: dict[str, Any] = {}
        self.ran = 0

    def validation(self, source: str):
        if source not in self.validations:
            d = dict(self.suites[source])
            suite = gx.ExpectationSuite(name=d["name"], expectations=d["expectations"], meta=d.get("meta"))
            suite = self.context.suites.add(suite)
            asset = self.datasource.add_dataframe_asset(source)
            batch = asset.add_batch_definition_whole_dataframe(f"{source}_delivery")
            self.validations[source] = self.context.validation_definitions.add(
                gx.ValidationDefinition(name=f"{source}_contract_v1", data=batch, suite=suite))
        return self.validations[source]

    def run(self, source: str, df: pd.DataFrame, params: dict, run_name: str):
        from great_expectations.core.run_identifier import RunIdentifier

        self.ran += 1
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="This pattern is interpreted as a regular expression")
            return self.validation(source).run(
            batch_parameters={"dataframe": df}, expectation_parameters=params, result_format=RESULT_FORMAT,
                run_id=RunIdentifier(run_name=run_name, run_time=datetime.now(timezone.utc)),
            )

    def build_docs(self) -> Path | None:
        if not self.ran:
            return None
        self.context.build_data_docs(site_names=[DATA_DOCS_SITE])
        from stratify.datadocs import make_offline  # no CDN scripts/styles, owner/group-only modes
        make_offline(self.docs_dir)
        return self.docs_dir / "index.html"


# --------------------------------------------------------------------------- stage


def _result_rows(run_id: str, delivery_id: int, results, suite: dict, df: pd.DataFrame, params: dict,
                 missing_required: set[str], n_rows: int) -> tuple[list[list], list[str], list[str]]:
    """validation_results rows plus the critical and warning messages for the reason."""
    by_id = {e["meta"]["id"]: e for e in suite["expectations"]}
    rows, critical, warning = [], [], []
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
            if column in missing_required and not eid.endswith(".exists"):
                detail += " - not evaluated: the column is missing"
            elif errored:
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
                first = _unexpected_rows(df, by_id.get(eid, {"type": cfg.type, "kwargs": cfg.kwargs}), params)
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


def _live_person_ids(text: pa.Table) -> pa.Array:
    """person_ids of a register delivery, without rows it retracts (deleted = true)."""
    pids = text.column("person_id")
    if "deleted" in text.column_names:
        keep = pc.fill_null(pc.not_equal(text.column("deleted"), "true"), True)
        pids = pids.filter(keep)
    return pids.combine_chunks()


def _register_ids(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT count(*) FROM raw_register WHERE superseded_on IS NULL").fetchall()[0][0]


def _key_mismatch(con: duckdb.DuckDBPyConnection, person_ids: pa.Array, run_registers: list[pa.Array]) -> tuple[int, int]:
    """(distinct person_ids, how many of them match no registered person)."""
    con.register("v_pids", pa.table({"person_id": person_ids}))
    reg = pa.table({"person_id": pa.concat_arrays(run_registers) if run_registers else pa.array([], pa.string())})
    con.register("v_run_register", reg)
    try:
        return con.execute(
            """
            WITH d AS (SELECT DISTINCT person_id FROM v_pids WHERE person_id IS NOT NULL)
            SELECT count(*),
                   count(*) FILTER (WHERE person_id NOT IN (SELECT person_id FROM raw_register WHERE superseded_on IS NULL)
                                      AND person_id NOT IN (SELECT person_id FROM v_run_register))
            FROM d
            """
        ).fetchall()[0]
    finally:
        con.unregister("v_pids")
        con.unregister("v_run_register")


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


def validate_deliveries(cfg: PlaceConfig, ctx: RunContext) -> dict:
    """Decide every pending delivery of the run: accepted, accepted_with_warnings, held or refused."""
    contract = load_contract()
    suites = load_suite_dicts()
    docs_dir = staging_dir(cfg, ctx) / "validation" / "data_docs"
    docs_dir.mkdir(parents=True, exist_ok=True)
    gxr = _GX(suites, docs_dir)
    teams: list[str] | None = None
    summary: dict[str, Any] = {"run_id": ctx.run_id, "deliveries": [], "data_docs": None}
    run_registers: list[pa.Array] = []
    with connect(cfg) as con:
        scan = duckdb.connect(config={"threads": cfg.duckdb.threads, "memory_limit": cfg.duckdb.memory_limit})
        try:
            for delivery_id, source_name, file_name, stored_path, delivery_date, _seq in _ordered_pending(con, ctx.run_id):
                source = contract.source(source_name)
                path = Path(stored_path)
                results_rows: list[list] = []
                started = time.perf_counter()
                n_rows = None
                warnings: list[str] = []
                decision, reason = "accepted", None

                def refuse(why: str, check: str, column: str | None = None):
                    results_rows.append([ctx.run_id, delivery_id, check, column, "critical", False, n_rows, None, why])
                    return "refused", f"{file_name}: refused: {why}"

                try:
                    text = read_delivery(path, source, threads=cfg.duckdb.threads, memory_limit=cfg.duckdb.memory_limit)
                except DeliveryReadError as exc:
                    decision, reason = refuse(exc.reason, "stratify.read")
                    text = None
                if text is not None:
                    n_rows = text.num_rows
                    findings = identifier_findings(scan, text)
                    if findings:
                        parts = []
                        for f in findings:
                            if f["by"] == "name":
                                parts.append(f"column {f['column']} is named like a direct identifier ({f['kind']})")
                            else:
                                parts.append(f"column {f['column']} holds {f['rows']} valid NHS number(s) "
                                             f"({_rows_text(f['first_rows'], f['rows'])})")
                        decision, reason = refuse(
                            "data minimisation: " + "; ".join(parts) + ". No extract may carry a direct identifier; "
                            "the whole delivery is refused", "stratify.data_minimisation",
                            ", ".join(f["column"] for f in findings))
                if decision == "accepted":
                    if source.kind == "outcome" and teams is None:
                        teams = list(cfg.teams)
                    params = {"delivery_date_yyyymmdd": _ymd(delivery_date), "teams": teams or []}
                    df = validation_frame(scan, text, source, delivery_date)
                    missing_required = {c for c in source.required_columns if c not in text.column_names}
                    res = gxr.run(source_name, df, params, run_name=f"{ctx.run_id}-{delivery_id}-{file_name}")
                    rows, critical, warns = _result_rows(ctx.run_id, delivery_id, res, suites[source_name], df,
                                                         params, missing_required, n_rows)
                    results_rows += rows
                    warnings += warns
                    del df
                    if critical:
                        decision, reason = "refused", f"{file_name}: refused: {_join(critical)}"
                if decision == "accepted" and source.kind != "register":
                    if _register_ids(con) == 0 and not run_registers:
                        decision, reason = refuse(
                            "no person register has been accepted yet, so the pseudonyms cannot be checked against it "
                            "(key mismatch check); deliver the register first, then deliver this file again",
                            "stratify.key_mismatch", "person_id")
                    else:
                        total, unmatched = _key_mismatch(con, text.column("person_id").combine_chunks(), run_registers)
                        share = unmatched / total if total else 0.0
                        ok = share <= cfg.validation.key_mismatch_share
                        detail = (f"{unmatched} of {total} distinct person_id pseudonyms ({share:.0%}) match no registered "
                                  f"person; limit {cfg.validation.key_mismatch_share:.0%}")
                        results_rows.append([ctx.run_id, delivery_id, "stratify.key_mismatch", "person_id", "critical",
                                             ok, total, unmatched, detail])
                        if not ok:
                            decision = "held"
                            reason = (f"{file_name}: held: key mismatch: {detail}. The pseudonymisation key may have "
                                      "changed upstream; check with the trusted third party before releasing it")
                if decision == "accepted" and warnings:
                    decision = "accepted_with_warnings"
                    reason = f"{file_name}: loaded with warnings: {_join(warnings)}"
                if decision in ("accepted", "accepted_with_warnings") and source.kind == "register":
                    run_registers.append(_live_person_ids(text))
                stored = stored_path
                if decision in ("refused", "held"):
                    stored = str(quarantine_file(cfg, path, source_name, reason)) if path.exists() else stored_path
                con.executemany(
                    "INSERT INTO validation_results (run_id, delivery_id, expectation, column_name, severity, success, "
                    "element_count, unexpected_count, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    results_rows,
                ) if results_rows else None
                con.execute(
                    "UPDATE deliveries SET decision = $d, reason = $r, rows = $n, stored_path = $p WHERE delivery_id = $id",
                    {"d": decision, "r": reason, "n": n_rows, "p": stored, "id": delivery_id},
                )
                summary["deliveries"].append({"delivery_id": delivery_id, "source": source_name, "file": file_name,
                                              "rows": n_rows, "decision": decision, "reason": reason,
                                              "seconds": round(time.perf_counter() - started, 2)})
                text = None
        finally:
            scan.close()
    index = gxr.build_docs()
    summary["data_docs"] = str(index) if index else None
    counts: dict[str, int] = {}
    for d in summary["deliveries"]:
        counts[d["decision"]] = counts.get(d["decision"], 0) + 1
    summary["counts"] = counts
    return summary
