"""Loading: corrections and deletions by record_id take effect, versioned by delivery."""

from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import pid, write_place
from stratify.contract import load_contract
from stratify.ingest.load import load_deliveries
from stratify.run.audit import start_run
from stratify.warehouse.database import connect


def deliver(cfg, ctx, name, table):
    parsed = load_contract().parse_file_name(name)
    src, d = parsed.source, parsed.delivery_date
    folder = cfg.landing / src
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name)
    with connect(cfg) as con:
        con.execute(
            "INSERT INTO deliveries (run_id, source, file_name, sha256, size_bytes, delivery_date, delivery_seq, "
            "received_at, decision) VALUES ($1, $2, $3, 'x', 1, $4, 1, now(), 'accepted')",
            [ctx.run_id, src, name, d],
        )


def police(rows):
    cols = list(zip(*rows))
    return pa.table({
        "record_id": pa.array(cols[0]), "person_id": pa.array(cols[1]),
        "event_date": pa.array(cols[2], pa.date32()), "event_type": pa.array(cols[3]),
        "end_date": pa.nulls(len(rows), pa.date32()), "deleted": pa.array(cols[4]),
        "role": pa.array(["victim"] * len(rows)),
    })


@pytest.fixture()
def cfg(tmp_path):
    return write_place(tmp_path)


def current(cfg, known_at=None):
    with connect(cfg) as con:
        return con.execute(
            "SELECT record_id, event_type FROM raw_events WHERE delivered_on <= $k "
            "AND (superseded_on IS NULL OR superseded_on > $k) ORDER BY record_id",
            {"k": known_at or date(2099, 1, 1)},
        ).fetchall()


def test_corrections_and_deletions_by_record_id(cfg):
    ctx = start_run(cfg, date(2026, 6, 1))
    deliver(cfg, ctx, "police_20260601.parquet", police([
        ("p1", pid(1), date(2026, 5, 1), "incident", False),
        ("p2", pid(1), date(2026, 5, 2), "arrest", False),
        ("p3", pid(2), date(2026, 5, 3), "incident", False),
    ]))
    assert load_deliveries(cfg, ctx)["rows"] == 3
    ctx2 = start_run(cfg, date(2026, 6, 2))
    deliver(cfg, ctx2, "police_20260602.parquet", police([
        ("p2", pid(1), date(2026, 5, 2), "custody", False),   # a correction
        ("p3", pid(2), date(2026, 5, 3), "incident", True),   # a retraction
        ("p4", pid(2), date(2026, 5, 20), "incident", False),  # a late record
    ]))
    load_deliveries(cfg, ctx2)
    assert current(cfg) == [("p1", "incident"), ("p2", "custody"), ("p4", "incident")]
    # As known on 1 June, nothing of the second delivery shows.
    assert current(cfg, date(2026, 6, 1)) == [("p1", "incident"), ("p2", "arrest"), ("p3", "incident")]
    assert not (cfg.landing / "police" / "police_20260602.parquet").exists()
    assert (cfg.archive / "police" / "police_20260602.parquet").exists()


def test_loading_twice_changes_nothing(cfg):
    ctx = start_run(cfg, date(2026, 6, 1))
    deliver(cfg, ctx, "police_20260601.parquet", police([("p1", pid(1), date(2026, 5, 1), "incident", False)]))
    load_deliveries(cfg, ctx)
    assert load_deliveries(cfg, ctx)["deliveries"] == 0
    assert current(cfg) == [("p1", "incident")]


def register(rows):
    cols = list(zip(*rows))
    n = len(rows)
    return pa.table({
        "record_id": pa.array(cols[0]), "person_id": pa.array(cols[1]),
        "birth_year_month": pa.array(["1980-01"] * n), "sex": pa.array(["F"] * n),
        "ethnic_group": pa.array(["W"] * n), "lsoa21": pa.array(cols[2]),
        "deleted": pa.array(cols[3]),
    })


def current_register(cfg):
    with connect(cfg) as con:
        return con.execute(
            "SELECT record_id, person_id, lsoa21 FROM raw_register WHERE superseded_on IS NULL ORDER BY record_id"
        ).fetchall()


def test_register_latest_row_per_person_wins_and_deletions_retract(cfg):
    ctx = start_run(cfg, date(2026, 6, 1))
    deliver(cfg, ctx, "register_20260601.parquet", register([
        ("r1", pid(1), "E01000001", False),
        ("r2", pid(2), "E01000001", False),
        ("r3", pid(3), "E01000001", False),
    ]))
    load_deliveries(cfg, ctx)
    ctx2 = start_run(cfg, date(2026, 6, 2))
    deliver(cfg, ctx2, "register_20260602.parquet", register([
        ("r1b", pid(1), "E01000002", False),  # a new record for a known person: moved, supersedes r1
        ("r2", pid(2), "E01000002", False),   # the same record corrected
        ("r3", pid(3), "E01000001", True),    # a retraction
    ]))
    load_deliveries(cfg, ctx2)
    assert current_register(cfg) == [("r1b", pid(1), "E01000002"), ("r2", pid(2), "E01000002")]
