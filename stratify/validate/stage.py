"""Validate: decide every pending delivery of a run against the contract.

Each pending delivery (the register first) is read into the work table
(`stratify.validate.workspace`), checked there for direct identifiers first
(`identifier_guard`: data minimisation), then validated in-database by its
Great Expectations suite (`suites`, run by `gx_runner` on DuckDB), then
checked for a pseudonymisation-key mismatch against the register. What each
check found is kept as fields (`findings`) and recorded with the decision
(`results`); refused and held files are quarantined; the run's Data Docs are
built last.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from stratify.config import PlaceConfig
from stratify.contract import Source, load_contract
from stratify.ingest.read import DeliveryReadError
from stratify.ingest.storage import quarantine_file
from stratify.run.context import RunContext, staging_dir
from stratify.validate import findings as F
from stratify.validate.findings import Finding, delivery_reason
from stratify.validate.gx_runner import GXRunner
from stratify.validate.identifier_guard import identifier_findings, parquet_columns_without_digits, prepare_guard
from stratify.validate.results import Verdict, gx_findings, not_evaluated, record_verdict
from stratify.validate.suites import load_suite_dicts, ymd
from stratify.validate.workspace import WORK_CATALOG, WORK_TABLE, close_workspace, drop_work_table, load_work_table, open_workspace
from stratify.warehouse.database import SQL_DIR, connect, run_sql_file

NO_REGISTER = ("no person register has been accepted yet, so the pseudonyms cannot be checked against it "
               "(key mismatch check); deliver the register first, then deliver this file again")


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


def _identifier_findings(found: list[dict], n_rows: int) -> list[Finding]:
    """The guard's findings as failed critical checks of `stratify.data_minimisation`, one per column."""
    rule = "no extract carries a direct identifier (data minimisation)"
    return [Finding("stratify.data_minimisation", f["column"], "critical", False, rule, checked_by="stratify",
                    failure=F.IDENTIFIER_NAME if f["by"] == "name" else F.NHS_NUMBERS,
                    count=f["rows"], out_of=n_rows, first_rows=tuple(f["first_rows"]),
                    note=f["kind"] if f["by"] == "name" else None)
            for f in found]


def _decided(v: Verdict, decision: str, file_name: str) -> Verdict:
    v.decision = decision
    v.reason = delivery_reason(file_name, decision, v.findings)
    return v


def validate_delivery(cfg: PlaceConfig, ctx: RunContext, con: duckdb.DuckDBPyConnection, gxr: GXRunner,
                      delivery_id: int, source: Source, file_name: str, path: Path, delivery_date: date) -> Verdict:
    """Decide one delivery: readable, no direct identifiers, its suite, no key mismatch.

    The delivery is read into the work table (in DuckDB, never whole in
    Python), checked there, and dropped again; `open_workspace(con)` and
    `prepare_guard(con)` first.
    """
    v = Verdict()
    suites = gxr.suites
    try:
        v.rows, delivered = load_work_table(con, path, source, delivery_date)
    except DeliveryReadError as exc:
        v.findings.append(Finding("stratify.read", None, "critical", False, "the file reads as the contract's CSV or "
                                  "Parquet", checked_by="stratify", failure=F.UNREADABLE, note=exc.reason))
        return _decided(v, "refused", file_name)
    try:
        found = identifier_findings(con, delivered, parquet_columns_without_digits(con, path))
        if found:
            v.findings += _identifier_findings(found, v.rows)
            return _decided(v, "refused", file_name)
        params = {"delivery_date_yyyymmdd": ymd(delivery_date),
                  "teams": list(cfg.teams) if source.kind == "outcome" else []}
        columns = {r[0] for r in con.execute(f"DESCRIBE {WORK_TABLE}").fetchall()}
        left_out = _left_out(suites[source.name], columns)
        res = gxr.run(con, source.name, delivery_id, params, run_name=f"{ctx.run_id}-{delivery_id}-{file_name}",
                      left_out=set(left_out))
        v.findings += not_evaluated(left_out, v.rows)
        v.findings += gx_findings(con, source, res, suites[source.name], params, v.rows)
        if any(not f.success and f.severity == "critical" and F.reason_text(f) for f in v.findings):
            return _decided(v, "refused", file_name)
        if source.kind != "register":
            if not _has_register(con):
                v.findings.append(Finding("stratify.key_mismatch", "person_id", "critical", False, NO_REGISTER,
                                          checked_by="stratify", failure=F.NO_REGISTER, note=NO_REGISTER))
                return _decided(v, "refused", file_name)
            total, unmatched = _key_mismatch(con)
            limit = cfg.validation.key_mismatch_share
            ok = (unmatched / total if total else 0.0) <= limit
            v.findings.append(Finding("stratify.key_mismatch", "person_id", "critical", ok,
                                      "the person_id pseudonyms match registered people", checked_by="stratify",
                                      failure=F.KEY_MISMATCH, count=unmatched, out_of=total, counted="pseudonyms",
                                      limit_share=limit))
            if not ok:
                return _decided(v, "held", file_name)
        if any(not f.success and f.severity != "critical" and F.reason_text(f) for f in v.findings):
            _decided(v, "accepted_with_warnings", file_name)
        if source.kind == "register":
            run_sql_file(con, SQL_DIR / "validate_remember_register.sql", step="remember the run's register")
        return v
    finally:
        drop_work_table(con)


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
    gxr = GXRunner(suites, docs_dir)
    summary: dict[str, Any] = {"run_id": ctx.run_id, "deliveries": [], "data_docs": None}
    with connect(cfg) as con:
        open_workspace(con)
        prepare_guard(con)
        try:
            for delivery_id, source_name, file_name, stored_path, delivery_date, _seq in _ordered_pending(con, ctx.run_id):
                started = time.perf_counter()
                path = Path(stored_path)
                v = validate_delivery(cfg, ctx, con, gxr, delivery_id, contract.source(source_name), file_name,
                                      path, delivery_date)
                stored = stored_path
                if v.decision in ("refused", "held"):
                    stored = str(quarantine_file(cfg, path, source_name, v.reason)) if path.exists() else stored_path
                record_verdict(con, ctx.run_id, delivery_id, v, stored)
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
