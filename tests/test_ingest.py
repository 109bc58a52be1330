"""Ingest: discovery of deliveries, reading them as canonical text, typing, quarantine and archive.

The helpers here build small contract-valid deliveries; test_validate.py imports them.
"""

from __future__ import annotations

import csv
import hashlib
import os
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import stratify.ingest.discover
from stratify.config import load_config
from stratify.contract import load_contract
from stratify.ingest.discover import discover_deliveries
from stratify.ingest.read import DeliveryReadError, read_delivery, typed_table
from stratify.ingest.storage import archive_file, quarantine_file
from stratify.run.context import RunContext, staging_dir
from stratify.warehouse.database import connect

AS_OF = date(2026, 11, 21)
DDATE = "20261120"
LSOAS = {"E01000001": "T1", "E01000002": "T1", "E01000003": "T2", "E01000004": "T2"}
HEALTH_TYPES = ["ae_attendance", "emergency_admission", "mental_health_referral", "self_harm", "gp_missed_appointment"]


def pid(i: int, salt: str = "p") -> str:
    return hashlib.sha256(f"{salt}{i}".encode()).hexdigest()


def register_rows(n: int = 30) -> list[dict]:
    return [{
        "record_id": f"R{i}", "person_id": pid(i), "birth_year_month": f"{1940 + i}-{1 + i % 12:02d}",
        "sex": "FMXU"[i % 4], "ethnic_group": "ABMWOZ"[i % 6], "lsoa21": list(LSOAS)[i % 4],
        "household_id": pid(i // 2, "h"), "date_of_death": "", "opted_out": "false", "deleted": "",
    } for i in range(n)]


def health_rows(n: int = 40, people: int = 30, salt: str = "p") -> list[dict]:
    rows = []
    for i in range(n):
        et = HEALTH_TYPES[i % len(HEALTH_TYPES)]
        d = date(2026, 1, 1) + timedelta(days=i * 7)
        rows.append({
            "record_id": f"H{i}", "person_id": pid(i % people, salt), "event_date": d.isoformat(),
            "event_type": et, "end_date": (d + timedelta(days=2)).isoformat() if et == "emergency_admission" else "",
            "deleted": "false", "diagnosis_code": "F10.2" if i % 5 == 0 else "",
            "length_of_stay_days": "2" if et == "emergency_admission" else "",
        })
    return rows


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None, encoding: str = "utf-8",
              delimiter: str = ",", bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = columns or list(rows[0])
    with open(path, "w", encoding=encoding, newline="") as fh:
        if bom:
            fh.write("\ufeff")
        w = csv.DictWriter(fh, fieldnames=columns, delimiter=delimiter, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


def make_place(root: Path):
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "neighbourhoods.csv", "w", encoding="utf-8") as fh:
        fh.write("lsoa21,team\n" + "".join(f"{k},{v}\n" for k, v in LSOAS.items()))
    (root / "place.yaml").write_text(
        "place: testplace\nlanding: landing\nwarehouse: wh/test.duckdb\nout: out\n"
        "neighbourhoods: neighbourhoods.csv\nduckdb: {threads: 2, memory_limit: 1GB}\n",
        encoding="utf-8",
    )
    return load_config(root / "place.yaml")


def new_run(cfg, as_of: date = AS_OF) -> RunContext:
    ctx = RunContext.new(cfg, as_of)
    with connect(cfg) as con:
        con.execute("INSERT INTO runs (run_id, place, as_of, started_at, status) VALUES ($1, $2, $3, now(), 'running')",
                    [ctx.run_id, cfg.place, as_of])
    staging_dir(cfg, ctx).mkdir(parents=True, exist_ok=True)
    return ctx


def deliveries(cfg, run_id: str | None = None) -> dict[str, dict]:
    with connect(cfg) as con:
        cur = con.execute("SELECT * EXCLUDE (received_at, loaded_at) FROM deliveries" + (" WHERE run_id = $1" if run_id else "") + " ORDER BY delivery_id",
                          [run_id] if run_id else [])
        cols = [d[0] for d in cur.description]
        return {r[cols.index("file_name")]: dict(zip(cols, r)) for r in cur.fetchall()}


@pytest.fixture
def place(tmp_path):
    return make_place(tmp_path / "place")


HEALTH = load_contract().source("health")
REGISTER = load_contract().source("register")


# --------------------------------------------------------------------------- discovery


def test_discover_records_pending_refuses_unrecognised_and_skips_partial_files(place):
    cfg = place
    write_csv(cfg.landing / "register" / f"register_{DDATE}.csv", register_rows())
    write_csv(cfg.landing / "health" / f"health_{DDATE}.csv", health_rows())
    write_csv(cfg.landing / "health" / "hospital_extract.csv", health_rows())
    write_csv(cfg.landing / "register" / f"health_{DDATE}_2.csv", health_rows())  # wrong folder
    write_csv(cfg.landing / f"police_{DDATE}.csv", health_rows())  # not in a source folder
    for skipped in (".hidden.csv", f"health_{DDATE}_3.csv.part", "x.tmp", f"health_{DDATE}.csv.done"):
        (cfg.landing / "health" / skipped).write_text("x", encoding="utf-8")
    ctx = new_run(cfg)
    summary = discover_deliveries(cfg, ctx, settle_seconds=0)
    assert summary["pending"] == 2 and summary["refused"] == 3 and summary["files"] == 5
    rows = deliveries(cfg)
    assert rows[f"register_{DDATE}.csv"]["decision"] == "pending"
    h = rows[f"health_{DDATE}.csv"]
    assert h["source"] == "health" and h["delivery_date"] == date(2026, 11, 20) and h["delivery_seq"] == 1
    assert h["sha256"] == hashlib.sha256((cfg.landing / "health" / f"health_{DDATE}.csv").read_bytes()).hexdigest()
    unk = rows["hospital_extract.csv"]
    assert unk["decision"] == "refused" and unk["source"] is None
    assert "matches no source" in unk["reason"] and "hospital_extract.csv" in unk["reason"]
    q = cfg.quarantine / "_unrecognised" / "hospital_extract.csv"
    assert q.exists() and "matches no source" in Path(str(q) + ".reason.txt").read_text(encoding="utf-8")
    assert not (cfg.landing / "health" / "hospital_extract.csv").exists()
    assert "must be dropped into health/" in rows[f"health_{DDATE}_2.csv"]["reason"]
    assert "landing folder itself" in rows[f"police_{DDATE}.csv"]["reason"]
    assert (cfg.landing / "health" / f"health_{DDATE}_3.csv.part").exists()  # left alone


def test_discover_skips_a_file_still_being_written(place):
    cfg = place
    growing = cfg.landing / "health" / f"health_{DDATE}.csv"
    write_csv(growing, health_rows())
    stop = threading.Event()

    def append():
        while not stop.is_set():
            with open(growing, "a", encoding="utf-8") as fh:
                fh.write("")
                fh.flush()
            growing.touch()
            time.sleep(0.01)

    t = threading.Thread(target=append)
    t.start()
    try:
        summary = discover_deliveries(cfg, new_run(cfg), settle_seconds=0.2)
    finally:
        stop.set()
        t.join()
    assert summary["files"] == 0 and summary["in_flight"] == 1
    assert growing.exists()


def test_same_file_delivered_twice_is_a_duplicate(place):
    cfg = place
    path = write_csv(cfg.landing / "health" / f"health_{DDATE}.csv", health_rows())
    content = path.read_bytes()
    ctx1 = new_run(cfg)
    discover_deliveries(cfg, ctx1, settle_seconds=0)
    with connect(cfg) as con:  # what validate + load would do
        con.execute("UPDATE deliveries SET decision = 'accepted', loaded_at = now()")
    archive_file(cfg, path, "health", date(2026, 11, 20))
    first_id = deliveries(cfg)[f"health_{DDATE}.csv"]["delivery_id"]
    again = cfg.landing / "health" / f"health_{DDATE}_2.csv"
    again.write_bytes(content)
    ctx2 = new_run(cfg)
    summary = discover_deliveries(cfg, ctx2, settle_seconds=0)
    assert summary["duplicate"] == 1 and summary["pending"] == 0
    row = deliveries(cfg, ctx2.run_id)[f"health_{DDATE}_2.csv"]
    assert row["decision"] == "duplicate"
    assert row["reason"] == f"duplicate of delivery {first_id}, nothing changed"
    assert not again.exists() and (cfg.quarantine / "health" / f"health_{DDATE}_2.csv").exists()


# --------------------------------------------------------------------------- reading


def test_read_csv_gives_canonical_text(tmp_path):
    rows = health_rows(5)
    rows[0]["deleted"] = "T"
    rows[1]["deleted"] = "0"
    t = read_delivery(write_csv(tmp_path / "h.csv", rows), HEALTH)
    assert t.num_rows == 5 and all(pa.types.is_string(f.type) or pa.types.is_large_string(f.type) for f in t.schema)
    assert t.column("deleted").to_pylist()[:3] == ["true", "false", "false"]
    assert t.column("end_date").to_pylist()[0] is None  # empty field = null


def test_read_parquet_casts_to_canonical_text(tmp_path):
    p = tmp_path / "h.parquet"
    pq.write_table(pa.table({
        "record_id": ["a", "b"], "person_id": [pid(1), pid(2)],
        "event_date": pa.array([date(2026, 1, 2), date(2026, 3, 4)], pa.date32()),
        "event_type": ["ae_attendance", "emergency_admission"], "deleted": [False, True],
        "length_of_stay_days": pa.array([None, 3.0], pa.float64()),
    }), p)
    t = read_delivery(p, HEALTH)
    assert t.column("event_date").to_pylist() == ["2026-01-02", "2026-03-04"]
    assert t.column("deleted").to_pylist() == ["false", "true"]
    assert t.column("length_of_stay_days").to_pylist() == [None, "3"]


def test_read_bom_csv_is_tolerated(tmp_path):
    t = read_delivery(write_csv(tmp_path / "h.csv", health_rows(3), bom=True), HEALTH)
    assert t.column_names[0] == "record_id" and t.num_rows == 3


@pytest.mark.parametrize("case,expected", [
    ("empty", "empty file (0 bytes)"),
    ("header_only", "header only"),
    ("truncated", "not a readable Parquet file (truncated or corrupt)"),
    ("latin1", "not UTF-8 (byte 0xE9 at offset"),
    ("semicolon", "semicolon-separated"),
    ("tab", "tab-separated"),
    ("quote", "malformed quoting at line 3"),
    ("fields", "wrong number of fields at line 2"),
])
def test_read_errors_are_specific_and_value_free(tmp_path, case, expected):
    rows = health_rows(4)
    if case == "empty":
        p = tmp_path / "h.csv"
        p.write_bytes(b"")
    elif case == "header_only":
        p = tmp_path / "h.csv"
        p.write_text(",".join(rows[0]) + "\n", encoding="utf-8")
    elif case == "truncated":
        full = tmp_path / "full.parquet"
        pq.write_table(pa.table({k: [r[k] for r in rows] for k in rows[0]}), full)
        p = tmp_path / "h.parquet"
        p.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    elif case == "latin1":
        rows[2]["diagnosis_code"] = "café"
        p = write_csv(tmp_path / "h.csv", rows, encoding="latin-1")
    elif case in ("semicolon", "tab"):
        p = write_csv(tmp_path / "h.csv", rows, delimiter=";" if case == "semicolon" else "\t")
    elif case == "quote":
        p = write_csv(tmp_path / "h.csv", rows)
        lines = p.read_text(encoding="utf-8").splitlines()
        lines[2] = lines[2].replace("H1,", 'H1"x",', 1).replace("H1", '"H1', 1)
        p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        p = write_csv(tmp_path / "h.csv", rows)
        lines = p.read_text(encoding="utf-8").splitlines()
        lines[1] += ",extra"
        p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DeliveryReadError) as exc:
        read_delivery(p, HEALTH)
    assert expected in exc.value.reason
    assert exc.value.file == p.name
    if case == "latin1":
        offset = p.read_bytes().index(b"\xe9")
        assert f"at offset {offset}" in exc.value.reason and "caf" not in exc.value.reason


# --------------------------------------------------------------------------- typing, moving


def test_typed_table_casts_to_contract_types(tmp_path):
    rows = health_rows(5)
    rows[0]["deleted"] = ""
    cols = [c for c in rows[0] if c != "diagnosis_code"]
    t = typed_table(read_delivery(write_csv(tmp_path / "h.csv", rows, columns=cols), HEALTH), HEALTH)
    assert t.column_names == list(HEALTH.column_names)
    assert t.schema.field("event_date").type == pa.date32()
    assert t.schema.field("deleted").type == pa.bool_()
    assert t.column("deleted").to_pylist()[0] is False
    assert pa.types.is_integer(t.schema.field("length_of_stay_days").type)
    assert t.column("diagnosis_code").null_count == 5
    reg = typed_table(read_delivery(write_csv(tmp_path / "r.csv", register_rows(3)), REGISTER), REGISTER)
    assert reg.column("opted_out").to_pylist() == [False] * 3


def test_archive_never_overwrites_and_quarantine_writes_reason(place, tmp_path):
    cfg = place
    a = write_csv(cfg.landing / "health" / "health_20261120.csv", health_rows(3))
    first = archive_file(cfg, a, "health", date(2026, 11, 20))
    assert first == cfg.archive / "health" / "health_20261120.csv" and not a.exists()
    b = write_csv(cfg.landing / "health" / "health_20261120.csv", health_rows(4))
    second = archive_file(cfg, b, "health", date(2026, 11, 20))
    assert second != first and second.exists() and first.read_bytes() != second.read_bytes()
    c = write_csv(cfg.landing / "health" / "health_20261120.csv", health_rows(3))
    assert archive_file(cfg, c, "health", date(2026, 11, 20)) == first  # same content: kept once
    d = write_csv(cfg.landing / "health" / "health_20261121.csv", health_rows(3))
    q = quarantine_file(cfg, d, "health", "because")
    assert q.parent == cfg.quarantine / "health"
    assert "because" in q.with_name(q.name + ".reason.txt").read_text(encoding="utf-8")


def _discover_one_file_stamped(cfg, monkeypatch, seconds_from_now: float) -> tuple[list[float], dict]:
    """Discover one delivery whose mtime is `seconds_from_now` (settle time 5 s); the pauses taken, the summary."""
    path = write_csv(cfg.landing / "health" / f"health_{DDATE}.csv", health_rows())
    stamp = time.time() + seconds_from_now
    os.utime(path, (stamp, stamp))
    slept: list[float] = []
    monkeypatch.setattr(stratify.ingest.discover.time, "sleep", slept.append)
    return slept, discover_deliveries(cfg, new_run(cfg), settle_seconds=5)


def test_discover_takes_files_quiet_for_the_settle_time_without_pausing(place, monkeypatch):
    slept, summary = _discover_one_file_stamped(place, monkeypatch, -3600)
    assert slept == [] and summary["files"] == 1 and summary["pending"] == 1


def test_discover_waits_only_until_a_fresh_file_has_been_quiet_long_enough(place, monkeypatch):
    started = time.time()
    slept, summary = _discover_one_file_stamped(place, monkeypatch, -2)
    took = time.time() - started  # on a loaded machine, setting up the run eats into the 3 s left
    assert len(slept) == 1 and 2.5 - took < slept[0] <= 3.0
    assert summary["pending"] == 1


def test_discover_gives_a_file_stamped_in_the_future_the_whole_pause(place, monkeypatch):
    slept, summary = _discover_one_file_stamped(place, monkeypatch, 60)  # a file server's clock ahead of ours
    assert slept == [5.0] and summary["pending"] == 1


# --------------------------------------------------------------------------- links, names and SQL text (issue 21, issue 15)


def test_archive_and_read_refuse_links_and_hard_links_and_never_change_the_file_behind(place, tmp_path):
    from stratify.ingest.storage import LandingEntryError

    cfg = place
    outside = write_csv(tmp_path / "outside" / "export.csv", health_rows(3))
    outside.chmod(0o600)
    link = cfg.landing / "health" / f"health_{DDATE}.csv"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    with pytest.raises(DeliveryReadError, match="a symbolic link, not a regular file"):
        read_delivery(link, HEALTH)
    with pytest.raises(LandingEntryError, match="a symbolic link"):
        archive_file(cfg, link, "health")
    link.unlink()
    os.link(outside, link)
    with pytest.raises(DeliveryReadError, match="a hard link"):
        read_delivery(link, HEALTH)
    with pytest.raises(LandingEntryError, match="a hard link"):
        archive_file(cfg, link, "health")
    stored = quarantine_file(cfg, link, "health", "refused: a hard link")  # the name moves; the file is not touched
    assert stored.parent == cfg.quarantine / "health" and os.path.samefile(stored, outside)
    assert (outside.stat().st_mode & 0o777) == 0o600 and not (cfg.archive / "health").exists()


def test_archived_file_is_set_private_by_descriptor_whatever_the_landing_mode(place):
    cfg = place
    f = write_csv(cfg.landing / "health" / f"health_{DDATE}.csv", health_rows(3))
    f.chmod(0o666)
    archived = archive_file(cfg, f, "health")
    assert (archived.stat().st_mode & 0o777) == 0o640 and (archived.parent.stat().st_mode & 0o777) == 0o750


def test_file_names_are_matched_whole():
    from stratify.ingest.discover import delivery_name

    contract = load_contract()
    assert delivery_name(contract, f"health_{DDATE}.csv")[0].source == "health"
    parsed, why = delivery_name(contract, f"health_{DDATE}.csv\n")
    assert parsed is None and "control character (\\n)" in why
    assert delivery_name(contract, f"health_{DDATE}.csvx")[0] is None


def test_paths_and_header_names_reach_duckdb_as_data_not_sql_text(tmp_path):
    """A folder with a quote in its name and header names made of SQL are read as they are, never as SQL."""
    rows = health_rows(3)
    odd = {'x") FROM read_csv(\'/etc/passwd\') --': "1", "it's": "2"}
    for r in rows:
        r.update(odd)
    path = write_csv(tmp_path / "it's a folder" / "health_20261120.csv", rows)
    table = read_delivery(path, HEALTH)
    assert set(odd) <= set(table.column_names) and table.num_rows == 3
    assert table.column('x") FROM read_csv(\'/etc/passwd\') --').to_pylist() == ["1"] * 3
