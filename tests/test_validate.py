"""Validation: one run over a landing zone full of good and bad deliveries, then per-file assertions.

The whole batch is discovered and validated once (one GX context), so the file stays fast.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stratify.ingest.discover import discover_deliveries
from stratify.run.context import staging_dir
from stratify.validate.stage import validate_deliveries
from stratify.validate.suites import build_suites, check_suites, write_suites
from stratify.warehouse.database import connect
from test_ingest import DDATE, deliveries, health_rows, make_place, new_run, pid, register_rows, write_csv

NHS_NUMBER = "9434765919"  # a valid NHS number (modulus 11), the standard test number


def _variant(mutate=None, columns=None, **kw):
    rows = health_rows()
    if mutate:
        mutate(rows)
    return rows, columns, kw


def _set(i, col, value):
    def f(rows):
        rows[i][col] = value
    return f


BAD = {
    # name: (rows mutation, expected decision, substrings of the reason)
    "missing_column": (None, "refused", ["required column event_type is missing"]),
    "extra_column": (None, "refused", ["notes", "not in the contract", "data minimisation"]),
    "companion_named_column": (None, "refused", ["column(s) event_date__calendar are not in the contract"]),
    "wrong_types": (_set(5, "length_of_stay_days", "three"), "refused",
                    ["length_of_stay_days: length_of_stay_days is an integer", "data row 6", "1 of 40 rows"]),
    "slash_date": (_set(3, "event_date", "31/02/2026"), "refused", ["event_date", "YYYY-MM-DD", "data row 4"]),
    "feb31": (_set(3, "event_date", "2026-02-31"), "refused", ["event_date is a real calendar date", "data row 4"]),
    "future": (_set(7, "event_date", "2026-11-21"), "refused", ["not after the delivery date", "data row 8"]),
    "before_2000": (_set(2, "event_date", "1999-12-31"), "refused", ["not before 2000-01-01", "data row 3"]),
    "unknown_code": (_set(4, "event_type", "ae_attendence"), "refused", ["event_type is one of the health codes", "data row 5"]),
    "short_pseudonym": (_set(1, "person_id", pid(1)[:63]), "refused", ["person_id matches the contract pattern `pseudonym`", "data row 2"]),
    "upper_pseudonym": (_set(1, "person_id", pid(1).upper()), "refused", ["person_id matches the contract pattern", "data row 2"]),
    "duplicate_record": (_set(9, "record_id", "H8"), "refused", ["record_id is unique", "2 of 40 rows", "data rows 9, 10"]),
    "end_before_start": (_set(1, "end_date", "2025-12-01"), "refused", ["end_date is not before event_date", "data row 2"]),
    "empty_pseudonym": (_set(2, "person_id", ""), "refused",
                        ["person_id: person_id is required (no empty values) - failed in 1 of 40 rows (data row 3)"]),
    "nhs_column": (None, "refused", ["column nhs_number is named like a direct identifier (nhs_number)"]),
    "nhs_value": (_set(5, "diagnosis_code", "943 476 5919"), "refused",
                  ["column diagnosis_code holds 1 valid NHS number(s) (data row 6)", "data minimisation"]),
    "stay_on_ae": (_set(0, "length_of_stay_days", "4"), "accepted_with_warnings",
                   ["length_of_stay_days is given only on event types emergency_admission"]),
}
READ_ERRORS = {
    "empty": ("csv", "empty file (0 bytes)"),
    "header_only": ("csv", "header only"),
    "truncated": ("parquet", "not a readable Parquet file (truncated or corrupt)"),
    "latin1": ("csv", "not UTF-8 (byte 0xE9 at offset"),
    "semicolons": ("csv", "semicolon-separated"),
}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    cfg = make_place(tmp_path_factory.mktemp("validate") / "place")
    h = cfg.landing / "health"
    files: dict[str, str] = {}
    write_csv(cfg.landing / "register" / f"register_{DDATE}.csv", register_rows())
    seq = iter(range(2, 100))

    def name(key, ext="csv"):
        files[key] = f"health_{DDATE}_{next(seq)}.{ext}"
        return h / files[key]

    files["valid"] = f"health_{DDATE}.csv"
    write_csv(h / files["valid"], health_rows())
    write_csv(name("bom"), health_rows(), bom=True)
    rows = health_rows()
    pq.write_table(pa.table({
        "record_id": [r["record_id"] for r in rows], "person_id": [r["person_id"] for r in rows],
        "event_date": pa.array([__import__("datetime").date.fromisoformat(r["event_date"]) for r in rows], pa.date32()),
        "event_type": [r["event_type"] for r in rows], "deleted": [False] * len(rows),
        "length_of_stay_days": pa.array([int(r["length_of_stay_days"]) if r["length_of_stay_days"] else None for r in rows], pa.int32()),
    }), name("parquet", "parquet"))
    for key, (mutate, _, _) in BAD.items():
        rows = health_rows()
        if mutate:
            mutate(rows)
        cols = list(rows[0])
        if key == "missing_column":
            cols.remove("event_type")
        if key == "extra_column":
            cols.append("notes")
            for r in rows:
                r["notes"] = "x"
        if key == "companion_named_column":  # the name of a column validation derives itself
            cols.append("event_date__calendar")
            for r in rows:
                r["event_date__calendar"] = "true"
        if key == "nhs_column":
            cols.append("nhs_number")
            for r in rows:
                r["nhs_number"] = NHS_NUMBER
        write_csv(name(key), rows, columns=cols)
    name("empty").write_bytes(b"")
    name("header_only").write_text(",".join(health_rows()[0]) + "\n", encoding="utf-8")
    full = write_csv(h / "full.tmp", health_rows())
    pq.write_table(pa.table({k: [r[k] for r in health_rows()] for k in health_rows()[0]}), full)
    name("truncated", "parquet").write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    full.unlink()
    rows = health_rows()
    rows[3]["diagnosis_code"] = "é"
    write_csv(name("latin1"), rows, encoding="latin-1")
    write_csv(name("semicolons"), health_rows(), delimiter=";")
    write_csv(name("key_mismatch"), health_rows(salt="newkey"))

    ctx = new_run(cfg)
    discovered = discover_deliveries(cfg, ctx, settle_seconds=0)
    summary = validate_deliveries(cfg, ctx)
    return {"cfg": cfg, "ctx": ctx, "files": files, "discovered": discovered, "summary": summary,
            "rows": deliveries(cfg, ctx.run_id)}


def _row(batch, key):
    return batch["rows"][batch["files"][key]]


def test_suites_in_expectations_match_the_contract(tmp_path):
    assert check_suites() == []
    write_suites(tmp_path)
    assert check_suites(tmp_path) == []
    p = tmp_path / "health.json"
    p.write_text(p.read_text(encoding="utf-8").replace("3650", "9999"), encoding="utf-8")
    assert any("health.length_of_stay_days.range" in d for d in check_suites(tmp_path))
    suites = build_suites()
    sev = {e.meta["id"]: e.severity for e in suites["health"].expectations}
    assert sev["health.length_of_stay_days.only_for_event_types"].value == "warning"
    assert sev["health.event_date.date_range"].value == "critical"


def test_valid_deliveries_are_accepted_and_stay_in_landing(batch):
    cfg = batch["cfg"]
    reg = batch["rows"][f"register_{DDATE}.csv"]
    assert reg["decision"] == "accepted" and reg["rows"] == 30
    for key in ("valid", "bom", "parquet"):
        row = _row(batch, key)
        assert (row["decision"], row["reason"]) == ("accepted", None), key
        assert row["rows"] == 40 and Path(row["stored_path"]).exists()
        assert Path(row["stored_path"]).parent == cfg.landing / "health"
    # register first, then by date and sequence
    order = [d["file"] for d in batch["summary"]["deliveries"]]
    assert order[0] == f"register_{DDATE}.csv" and order[1] == f"health_{DDATE}.csv"


@pytest.mark.parametrize("key", sorted(BAD))
def test_bad_content_is_refused_with_a_specific_reason(batch, key):
    _, decision, expected = BAD[key]
    row = _row(batch, key)
    assert row["decision"] == decision, row["reason"]
    for text in expected:
        assert text in row["reason"], (text, row["reason"])
    assert row["file_name"] in row["reason"]
    assert NHS_NUMBER not in row["reason"] and "943 476 5919" not in row["reason"]
    cfg = batch["cfg"]
    if decision == "refused":
        q = cfg.quarantine / "health" / row["file_name"]
        assert q.exists() and Path(row["stored_path"]) == q
        reason_file = q.with_name(q.name + ".reason.txt").read_text(encoding="utf-8")
        assert row["reason"] in reason_file and NHS_NUMBER not in reason_file
        assert not (cfg.landing / "health" / row["file_name"]).exists()
    else:
        assert Path(row["stored_path"]).exists()


@pytest.mark.parametrize("key", sorted(READ_ERRORS))
def test_unreadable_files_are_refused(batch, key):
    row = _row(batch, key)
    assert row["decision"] == "refused"
    assert READ_ERRORS[key][1] in row["reason"] and row["file_name"] in row["reason"]
    assert (batch["cfg"].quarantine / "health" / (row["file_name"] + ".reason.txt")).exists()


def test_key_mismatch_is_held(batch):
    row = _row(batch, "key_mismatch")
    assert row["decision"] == "held"
    assert "key mismatch: 30 of 30 distinct person_id pseudonyms (100%) match no registered person" in row["reason"]
    assert (batch["cfg"].quarantine / "health" / row["file_name"]).exists()


def test_results_are_recorded_without_values(batch):
    cfg, ctx = batch["cfg"], batch["ctx"]
    with connect(cfg) as con:
        n_pending = con.execute("SELECT count(*) FROM deliveries WHERE run_id = $1 AND decision = 'pending'",
                                [ctx.run_id]).fetchall()[0][0]
        results = con.execute("SELECT expectation, severity, success, detail FROM validation_results").fetchall()
        raw = con.execute("SELECT (SELECT count(*) FROM raw_events) + (SELECT count(*) FROM raw_register)").fetchall()[0][0]
    assert n_pending == 0 and raw == 0  # validation decides; it loads nothing
    assert any(r[0] == "health.event_date.date_range" and r[2] is False for r in results)
    assert any(r[0] == "stratify.data_minimisation" for r in results)
    secrets = [NHS_NUMBER, "ae_attendence", pid(1).upper(), "31/02/2026", "2026-02-31", "1999-12-31"]
    blob = " ".join(str(c) for r in results for c in r)
    assert not [s for s in secrets if s in blob]
    # Data Docs for the run, with no delivered values in them
    index = staging_dir(cfg, ctx) / "validation" / "data_docs" / "index.html"
    assert index.exists() and batch["summary"]["data_docs"] == str(index)
    pages = " ".join(p.read_text(encoding="utf-8", errors="replace")
                     for p in index.parent.rglob("*.html"))
    leaked = [s for s in secrets + [pid(1), pid(2)] if s in pages]
    assert leaked == []


def test_nothing_else_changes(batch):
    cfg = batch["cfg"]
    left = sorted(p.name for p in (cfg.landing / "health").iterdir())
    accepted = sorted(r["file_name"] for r in batch["rows"].values()
                      if r["source"] == "health" and r["decision"] in ("accepted", "accepted_with_warnings"))
    assert left == accepted
    assert batch["discovered"]["files"] == len(batch["rows"])


def test_event_delivery_without_any_register_is_refused(tmp_path):
    cfg = make_place(tmp_path / "place")
    write_csv(cfg.landing / "health" / f"health_{DDATE}.csv", health_rows())
    ctx = new_run(cfg)
    discover_deliveries(cfg, ctx, settle_seconds=0)
    summary = validate_deliveries(cfg, ctx)
    d = summary["deliveries"][0]
    assert d["decision"] == "refused" and "no person register has been accepted yet" in d["reason"]


def test_row_numbers_are_file_order_in_big_deliveries(tmp_path):
    """The first failing rows are counted in file order although DuckDB reads in parallel (many row groups)."""
    import duckdb

    cfg = make_place(tmp_path / "place")
    write_csv(cfg.landing / "register" / f"register_{DDATE}.csv", register_rows())
    (cfg.landing / "health").mkdir(parents=True)
    n = 200_000
    def rows(bad_codes: bool, nhs: bool) -> str:
        return f"""
            SELECT 'H' || i AS record_id, sha256('p' || (i % 30)) AS person_id,
                   DATE '2026-01-01' + CAST(i % 300 AS INTEGER) AS event_date,
                   CASE WHEN {bad_codes} AND i + 1 IN (123457, 199999) THEN 'ae_attendence' ELSE 'ae_attendance' END
                       AS event_type,
                   CASE WHEN {nhs} AND i + 1 = 150001 THEN '943 476 5919' END AS diagnosis_code
            FROM range({n}) AS t(i)"""

    files = {"codes": f"health_{DDATE}.parquet", "codes_csv": f"health_{DDATE}_2.csv", "nhs": f"health_{DDATE}_3.parquet"}
    folder = cfg.landing / "health"
    con = duckdb.connect()
    con.execute(f"COPY ({rows(True, False)}) TO '{folder / files['codes']}' (FORMAT parquet, ROW_GROUP_SIZE 10000)")
    con.execute(f"COPY ({rows(True, False)}) TO '{folder / files['codes_csv']}' (FORMAT csv, HEADER)")
    con.execute(f"COPY ({rows(False, True)}) TO '{folder / files['nhs']}' (FORMAT parquet, ROW_GROUP_SIZE 10000)")
    con.close()
    ctx = new_run(cfg)
    discover_deliveries(cfg, ctx, settle_seconds=0)
    validate_deliveries(cfg, ctx)
    got = deliveries(cfg, ctx.run_id)
    for key in ("codes", "codes_csv"):
        row = got[files[key]]
        assert row["decision"] == "refused" and row["rows"] == n
        assert f"failed in 2 of {n} rows (data rows 123457, 199999)" in row["reason"], row["reason"]
    nhs = got[files["nhs"]]
    assert "column diagnosis_code holds 1 valid NHS number(s) (data row 150001)" in nhs["reason"], nhs["reason"]
    assert NHS_NUMBER not in nhs["reason"] and "943 476 5919" not in nhs["reason"]


def test_nhs_scan_skips_only_parquet_columns_that_cannot_hold_ten_digits(tmp_path):
    import datetime as dt

    import duckdb

    from stratify.validate.identifier_guard import parquet_columns_without_digits

    cfg = make_place(tmp_path / "place")
    write_csv(cfg.landing / "register" / f"register_{DDATE}.csv", register_rows())
    rows = health_rows()
    path = cfg.landing / "health" / f"health_{DDATE}.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({
        "record_id": [r["record_id"] for r in rows], "person_id": [r["person_id"] for r in rows],
        "event_date": pa.array([dt.date.fromisoformat(r["event_date"]) for r in rows], pa.date32()),
        "event_type": [r["event_type"] for r in rows], "deleted": [False] * len(rows),
        "length_of_stay_days": pa.array([int(NHS_NUMBER) if i == 1 else None for i in range(len(rows))], pa.int64()),
    }), path)
    assert parquet_columns_without_digits(duckdb.connect(), path) == {"event_date", "deleted"}
    ctx = new_run(cfg)
    discover_deliveries(cfg, ctx, settle_seconds=0)
    validate_deliveries(cfg, ctx)
    row = deliveries(cfg, ctx.run_id)[path.name]
    assert row["decision"] == "refused"
    assert "column length_of_stay_days holds 1 valid NHS number(s) (data row 2)" in row["reason"], row["reason"]
    assert NHS_NUMBER not in row["reason"]


def test_a_verdict_is_recorded_in_order_with_its_decision_or_not_at_all(tmp_path):
    from stratify.validate.findings import Finding
    from stratify.validate.results import RESULT_COLUMNS, Verdict, finding_from_row, record_verdict

    cfg = make_place(tmp_path / "place")
    write_csv(cfg.landing / "register" / f"register_{DDATE}.csv", register_rows())
    ctx = new_run(cfg)
    discover_deliveries(cfg, ctx, settle_seconds=0)
    findings = [Finding(f"check.{i}", None if i % 2 else "person_id", "critical", i != 3, f"rule {i}",
                        failure=None if i != 3 else "rows", count=None if i % 3 else i,
                        out_of=None if i == 0 else 10 * i, first_rows=(i, i + 1) if i == 3 else ())
                for i in range(7)]
    with connect(cfg) as con:
        (delivery_id,) = con.execute("SELECT delivery_id FROM deliveries WHERE run_id = $1", [ctx.run_id]).fetchone()
        record_verdict(con, ctx.run_id, delivery_id, Verdict("refused", "why", 12, findings), "/quarantined/path")
        cur = con.execute(f"SELECT {', '.join(RESULT_COLUMNS)} FROM validation_results ORDER BY rowid")
        got = [dict(zip(RESULT_COLUMNS, r)) for r in cur.fetchall()]
        assert [finding_from_row(r) for r in got] == findings  # every field comes back as it went in
        assert got[3]["detail"] == "rule 3 - failed in 3 of 30 rows (data rows 3, 4, ...)"
        assert con.execute("SELECT decision, reason, rows, stored_path FROM deliveries WHERE delivery_id = $1",
                           [delivery_id]).fetchone() == ("refused", "why", 12, "/quarantined/path")
        # a decision the table refuses (a row count that is not a number) leaves no results behind either
        with pytest.raises(Exception, match="many"):
            record_verdict(con, ctx.run_id, delivery_id, Verdict("accepted", None, "many", findings[:2]), "/elsewhere")
        assert con.execute("SELECT count(*) FROM validation_results").fetchone()[0] == len(findings)
        assert con.execute("SELECT decision, stored_path FROM deliveries WHERE delivery_id = $1",
                           [delivery_id]).fetchone() == ("refused", "/quarantined/path")
        record_verdict(con, ctx.run_id, delivery_id, Verdict("accepted", None, 3, []), "/landing/path")  # decision only
        assert con.execute("SELECT decision, rows FROM deliveries WHERE delivery_id = $1",
                           [delivery_id]).fetchone() == ("accepted", 3)


def test_objects_made_before_the_stage_are_frozen_only_while_it_runs():
    import gc

    from stratify.validate.stage import earlier_objects_frozen

    before = gc.get_freeze_count()
    with earlier_objects_frozen():
        assert gc.get_freeze_count() > before
        made = [object() for _ in range(10)]
    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), earlier_objects_frozen():
        raise RuntimeError("a failing stage")
    assert gc.get_freeze_count() == 0 and made


def test_validate_is_split_by_job_into_small_modules():
    from pathlib import Path

    import stratify.validate as pkg

    folder = Path(pkg.__file__).parent
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in folder.glob("*.py")}
    assert {"suites.py", "workspace.py", "identifier_guard.py", "gx_runner.py", "findings.py", "results.py",
            "stage.py", "gx_duckdb.py", "gx_internals.py", "data_docs.py"} <= set(sizes)
    assert all(n < 400 for n in sizes.values()), sizes


def test_the_findings_columns_are_added_idempotently_to_an_older_warehouse(tmp_path):
    import duckdb

    from stratify.resources import DDL_DIR
    from stratify.warehouse.database import run_sql_file

    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    for ddl in sorted(DDL_DIR.glob("*.sql")):
        if ddl.name < "006":
            run_sql_file(con, ddl)
    con.execute("INSERT INTO validation_results (run_id, delivery_id, expectation, severity, success) "
                "VALUES ('r', 1, 'x', 'critical', true)")
    for _ in range(2):  # applied twice: nothing breaks, nothing is lost
        run_sql_file(con, DDL_DIR / "006_validation_findings.sql")
    columns = {r[0] for r in con.execute("DESCRIBE validation_results").fetchall()}
    assert {"rule", "checked_by", "failure", "counted", "first_rows", "names", "limit_share", "note"} <= columns
    assert con.execute("SELECT count(*) FROM validation_results").fetchone()[0] == 1
