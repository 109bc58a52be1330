"""Retention: what is past its time goes (and is logged), what is not stays, `latest` always stays."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from helpers import write_place
from stratify.cli import main
from stratify.retention import purge
from stratify.warehouse.database import connect

# The real clock, so that the command line (which cannot be given a time) sees the same ages.
NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.astimezone(ZoneInfo("Europe/London")).date()


def aged(path: Path, days: float) -> Path:
    """Set a file's or folder's modification time to `days` before NOW."""
    ts = (NOW - timedelta(days=days)).timestamp()
    os.utime(path, (ts, ts), follow_symlinks=False)
    return path


def write(path: Path, text: str = "x", days: float = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return aged(path, days)


def add_run(cfg, as_of: date, status: str = "published", suffix: str = "010203000000Z") -> Path:
    run_id = f"{as_of:%Y%m%d}T{suffix}"
    with connect(cfg) as con:
        con.execute("INSERT INTO runs (run_id, place, as_of, started_at, status) VALUES ($1, 'test', $2, $3, $4)",
                    [run_id, as_of, NOW, status])
    folder = cfg.out / "runs" / run_id
    write(folder / "lists" / "NT01.csv", "rank,person_id\n")
    write(folder / "manifest.json", "{}")
    return folder


def point_latest(cfg, run_folder: Path) -> None:
    os.symlink(os.path.relpath(run_folder, cfg.out), cfg.out / "latest")


def purges(cfg) -> list[tuple]:
    with connect(cfg) as con:
        return con.execute("SELECT kind, path, age_days, bytes, reason FROM purges ORDER BY kind, path").fetchall()


@pytest.fixture
def place(tmp_path):
    cfg = write_place(tmp_path)
    old = add_run(cfg, TODAY - timedelta(days=401))
    kept = add_run(cfg, TODAY - timedelta(days=399))
    latest_but_old = add_run(cfg, TODAY - timedelta(days=900), suffix="030303000000Z")
    point_latest(cfg, latest_but_old)
    stray = cfg.out / "runs" / "not-a-run"
    write(stray / "notes.txt", days=5000)
    stale_staging = cfg.out / "runs" / ".staging-20260101T000000000000Z"
    write(stale_staging / "stages" / "validate.json", "{}", days=91)
    aged(stale_staging / "stages", 91)
    aged(stale_staging, 91)
    fresh_staging = cfg.out / "runs" / ".staging-20261121T000000000000Z"
    write(fresh_staging / "x.json", "{}", days=1)
    old_delivery = write(cfg.archive / "health" / f"health_{TODAY - timedelta(days=2556):%Y%m%d}.csv", days=1)
    young_delivery = write(cfg.archive / "police" / f"police_{TODAY - timedelta(days=2000):%Y%m%d}_2.csv", days=3000)
    renamed_old = write(cfg.archive / "housing" / f"housing_{TODAY - timedelta(days=3000):%Y%m%d}.2.parquet")
    undated_old = write(cfg.archive / "health" / "notes_without_date.txt", days=2600)
    q = cfg.quarantine / "police"
    q_old = write(q / "police_20260101.csv", days=400)
    q_old_reason = write(q / "police_20260101.csv.reason.txt", "why", days=91)
    q_new = write(q / "police_20260801.csv", days=400)  # a delivery keeps its own mtime when moved...
    q_new_reason = write(q / "police_20260801.csv.reason.txt", "why", days=10)  # ...the reason says when
    q_orphan_reason = write(cfg.quarantine / "_unrecognised" / "junk.bin.reason.txt", "why", days=100)
    return {
        "cfg": cfg,
        "gone": {old: "run", stale_staging: "staging", old_delivery: "archive", renamed_old: "archive",
                 undated_old: "archive", q_old: "quarantine", q_old_reason: "quarantine",
                 q_orphan_reason: "quarantine"},
        "kept": [kept, latest_but_old, stray, fresh_staging, young_delivery, q_new, q_new_reason],
    }


def test_purge_removes_what_is_past_retention_and_logs_each_removal(place):
    cfg = place["cfg"]
    summary = purge(cfg, now=NOW)
    for path in place["gone"]:
        assert not path.exists(), path
    for path in place["kept"]:
        assert path.exists(), path
    assert summary["removed"] == {"run": 1, "staging": 1, "archive": 3, "quarantine": 3}
    assert summary["kept_latest"] == place["kept"][1].name
    rows = purges(cfg)
    assert {Path(p): k for k, p, *_ in rows} == place["gone"]
    by_path = {Path(p): (age, size, reason) for _, p, age, size, reason in rows}
    run_age, run_bytes, run_reason = by_path[next(p for p, k in place["gone"].items() if k == "run")]
    assert run_age == 401 and run_bytes == len("rank,person_id\n") + len("{}")
    assert "retention.runs_days = 400" in run_reason
    assert sum(summary["bytes"].values()) == sum(size for _, _, _, size, _ in rows)
    assert (cfg.out / "latest" / "lists" / "NT01.csv").exists()


def test_a_second_purge_removes_nothing(place):
    cfg = place["cfg"]
    purge(cfg, now=NOW)
    before = purges(cfg)
    again = purge(cfg, now=NOW)
    assert sum(again["removed"].values()) == 0
    assert purges(cfg) == before


def test_dry_run_lists_but_touches_nothing(place):
    cfg = place["cfg"]
    summary = purge(cfg, dry_run=True, now=NOW)
    assert {Path(i["path"]) for i in summary["would_remove"]} == set(place["gone"])
    assert summary["removed"]["archive"] == 3
    for path in list(place["gone"]) + place["kept"]:
        assert path.exists(), path
    assert purges(cfg) == []


def test_the_configured_retention_is_used(tmp_path):
    cfg = write_place(tmp_path, extra="retention:\n  runs_days: 30\n  archive_days: 10\n  quarantine_days: 5\n")
    run = add_run(cfg, TODAY - timedelta(days=31))
    point_latest(cfg, add_run(cfg, TODAY, suffix="090909000000Z"))
    delivery = write(cfg.archive / "health" / f"health_{TODAY - timedelta(days=11):%Y%m%d}.csv")
    refused = write(cfg.quarantine / "health" / "health_20261101.csv", days=6)
    purge(cfg, now=NOW)
    assert not run.exists() and not delivery.exists() and not refused.exists()


def test_symbolic_links_are_never_followed(tmp_path):
    cfg = write_place(tmp_path)
    outside = write(tmp_path / "elsewhere" / "health_20000101.csv", days=9000)
    link = cfg.archive / "health" / "health_20000101.csv"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    outside_run = tmp_path / "elsewhere_run"
    write(outside_run / "manifest.json")
    (cfg.out / "runs").mkdir(parents=True)
    (cfg.out / "runs" / "20000101T000000Z").symlink_to(outside_run)
    summary = purge(cfg, now=NOW)
    assert sum(summary["removed"].values()) == 0
    assert outside.exists() and (outside_run / "manifest.json").exists()


def test_a_run_without_a_runs_row_is_aged_by_its_id(tmp_path):
    cfg = write_place(tmp_path)
    orphan = cfg.out / "runs" / f"{TODAY - timedelta(days=500):%Y%m%d}T000000Z"
    write(orphan / "manifest.json")
    purge(cfg, now=NOW)
    assert not orphan.exists()


def test_nothing_to_purge_on_an_empty_place(tmp_path):
    cfg = write_place(tmp_path)
    summary = purge(cfg, now=NOW)
    assert sum(summary["removed"].values()) == 0 and summary["kept_latest"] is None


def test_cli_purge_dry_run_and_real(place, capsys):
    cfg = place["cfg"]
    assert main(["purge", "--config", str(cfg.path), "--dry-run"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dry_run"] is True and len(out["would_remove"]) == len(place["gone"])
    assert all(p.exists() for p in place["gone"])
    assert main(["purge", "--config", str(cfg.path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sum(out["removed"].values()) == len(place["gone"])
    assert not any(p.exists() for p in place["gone"])
    assert place["kept"][1].exists()  # latest
