"""The benchmark's parts: one more day of deliveries, the read floors, per-step measuring, the report.

The whole benchmark (`stratify bench`) runs end to end in the slow test at
the bottom, on a tiny place with a short training history.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from stratify.bench import (
    BenchError,
    Measured,
    Phase,
    add_floor_ratios,
    compare,
    issue16_lines,
    landing_files,
    read_files_floor,
    read_warehouse_floor,
    report,
    run_bench,
    run_step,
    targets_for,
    write_place,
)
from stratify.config import load_config
from stratify.contract import load_contract
from stratify.synth.generate import synthesize, synthesize_day

AS_OF = date(2026, 11, 20)
DAY = AS_OF + timedelta(days=1)
PEOPLE = 2_000


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A small synthetic place with its history in landing and one more day on top."""
    folder = tmp_path_factory.mktemp("bench-place")
    cfg = load_config(write_place(folder))
    synthesize(cfg, people=PEOPLE, as_of=AS_OF, seed=5)
    history = {p: pq.read_table(p) for p in landing_files(cfg)}
    written = synthesize_day(cfg, DAY, seed=5)
    return cfg, history, written


def test_one_day_gives_every_source_one_contract_named_file(place):
    cfg, _, written = place
    contract = load_contract()
    assert [name.split("/")[0] for name, _ in written] == list(contract.source_names)
    for name, rows in written:
        parsed = contract.parse_file_name(name.split("/")[1])
        assert parsed is not None and parsed.delivery_date == DAY and parsed.seq == 1, name
        assert rows > 0, name  # an empty delivery breaks the contract
        table = pq.read_table(cfg.landing / name)
        assert table.num_rows == rows
        assert table.column_names == list(contract.source(parsed.source).column_names), name


def test_the_day_is_about_the_places_people_and_keeps_the_rules(place):
    cfg, history, written = place
    registered = set()
    for path, table in history.items():
        if path.parent.name == "register":
            registered |= set(table.column("person_id").to_pylist())
    for name, _ in written:
        table = pq.read_table(cfg.landing / name)
        rids = table.column("record_id").to_pylist()
        assert len(rids) == len(set(rids)), f"{name}: a record_id twice in one delivery"
        assert set(table.column("person_id").to_pylist()) <= registered, name
        if "event_date" in table.column_names:
            assert pc.max(table.column("event_date")).as_py() <= DAY, name
            assert pc.min(table.column("event_date")).as_py() >= load_contract().min_event_date, name
        if "end_date" in table.column_names:
            ends = table.filter(pc.is_valid(table.column("end_date")))
            assert pc.all(pc.greater_equal(ends.column("end_date"), ends.column("event_date"))).as_py() in (True, None)


def test_the_day_is_new_events_at_the_daily_volume_plus_a_few_corrections(place):
    cfg, history, written = place
    name = next(n for n, _ in written if n.startswith("health/"))
    day = pq.read_table(cfg.landing / name)
    old_ids = set()
    for path, table in history.items():
        if path.parent.name == "health":
            old_ids |= set(table.column("record_id").to_pylist())
    ids = day.column("record_id").to_pylist()
    new = [r for r in ids if r not in old_ids]
    resent = [r for r in ids if r in old_ids]
    assert new and all(r.startswith(f"HLT-{DAY:%Y%m%d}-") for r in new)
    assert 1 <= len(resent) < len(new)  # corrections and retractions of earlier records
    deleted = day.filter(pc.field("deleted")).column("record_id").to_pylist()
    assert deleted and set(deleted) <= old_ids  # only earlier records are retracted
    since = DAY - timedelta(days=366)
    last_year = sum(since < d < DAY for p, t in history.items() if p.parent.name == "health"
                    for d in t.column("event_date").to_pylist()) / 365  # rows per day in the year before
    assert 0.5 * last_year <= len(new) <= 1.5 * last_year + 1


def test_one_day_is_deterministic(place, tmp_path):
    cfg, _, written = place
    first = {n: pq.read_table(cfg.landing / n) for n, _ in written}
    again = synthesize_day(cfg, DAY, seed=5)
    assert again == written
    for n, table in first.items():
        assert pq.read_table(cfg.landing / n).equals(table), n


def test_one_day_needs_a_history_first(tmp_path):
    cfg = load_config(write_place(tmp_path))
    with pytest.raises(ValueError, match="no register deliveries before 2026-11-21"):
        synthesize_day(cfg, DAY)


def test_the_file_floor_reads_every_row_of_every_file(place):
    cfg, history, written = place
    files = landing_files(cfg)
    out = read_files_floor(cfg, files)
    assert out["files"] == len(history) + len(written)
    assert out["rows"] == sum(t.num_rows for t in history.values()) + sum(r for _, r in written)


def test_the_warehouse_floor_reads_every_raw_table(tmp_path):
    from stratify.warehouse.database import connect

    cfg = load_config(write_place(tmp_path))
    with connect(cfg) as con:  # an empty, migrated warehouse
        con.execute("SELECT 1").fetchall()
    assert read_warehouse_floor(cfg) == {"rows": {"raw_register": 0, "raw_events": 0, "raw_outcomes": 0}}


def test_a_step_runs_in_its_own_process_and_its_memory_is_its_own(place, tmp_path):
    cfg, _, _ = place
    config = cfg.landing.parent / "place.yaml"  # write_place's file
    m = run_step({"op": "floor_files", "config": str(config), "files": [str(p) for p in landing_files(cfg)]}, tmp_path)
    assert m.result["rows"] > 0
    assert 20 < m.peak_rss_mb < 4096  # a Python process with DuckDB, measured by wait4
    assert m.wall_s >= m.seconds > 0 and m.cpu_s > 0


def test_a_failing_step_says_which_and_why(tmp_path):
    config = write_place(tmp_path / "empty")
    with pytest.raises(BenchError, match=r"synth_day failed \(exit 1\): ValueError: synth: no register deliveries"):
        run_step({"op": "synth_day", "config": str(config), "day": DAY.isoformat(), "seed": 0}, tmp_path)


def _figures(people: int, first_s: float, night_s: float) -> dict:
    stage = Measured(1.0, 1.5, 1.2, 300.0).figures()
    phase = lambda total, floor: {  # noqa: E731
        "status": "published", "total_s": total, "startup_s": 5.0, "cpu_s": total, "peak_rss_mb": 5000,
        "floor_s": floor, "floor_ratio": round(total / floor, 1), "stages": {"validate": stage, "score": stage}}
    return {"people": people, "years": 3, "as_of": "2026-11-20", "night_as_of": "2026-11-21", "commit": "abc1234",
            "machine": {"cpus": 2}, "duckdb": {"threads": 2, "memory_limit": "4GB"},
            "first_load": phase(first_s, 10.0), "night": {**phase(night_s, 2.0), "delivered_floor_s": 0.1}}


def test_the_report_sets_each_figure_beside_its_target():
    text = report(_figures(330_000, 250.0, 45.0))
    assert "targets for 330,000 people" in text
    assert "first_load: 250.0 s (target < 300 s: met)" in text
    assert "ratio 25.0x (target < 20 x: NOT met)" in text
    assert "night: 45.0 s (target < 60 s: met)" in text
    assert "peak 5,000 MB (target < 4,096 MB: NOT met)" in text
    assert targets_for(20_000)[0] == 330_000 and targets_for(1_000_000)[0] == 3_000_000
    assert targets_for(10_000_000)[0] == 3_000_000


def test_training_is_read_from_the_score_stage_and_reported_apart():
    phase = Phase(status="published")
    phase.steps["features"] = Measured(10.0, 11.0, 10.0, 500.0, {"summary": {"people": 5}})
    phase.steps["score"] = Measured(130.0, 131.0, 200.0, 900.0,
                                    {"summary": {"trained_now": True, "training_s": 120.0}})
    figures = phase.figures()
    assert figures["training_s"] == 120.0 and figures["total_s"] == 140.0
    first = {**figures, "floor_s": 2.0}
    add_floor_ratios(first)
    assert first["floor_ratio"] == 70.0 and first["floor_ratio_without_training"] == 10.0
    whole = _figures(330_000, 250.0, 45.0)
    whole["first_load"].update(training_s=200.0, floor_ratio_without_training=5.0)
    assert "ratio 25.0x (target < 20 x: NOT met), 5.0x without training (200.0 s)" in report(whole)


def test_a_night_without_training_has_equal_ratios():
    phase = Phase(status="published")
    phase.steps["score"] = Measured(4.0, 5.0, 4.0, 600.0, {"summary": {"trained_now": False}})
    night = {**phase.figures(), "floor_s": 0.5}
    add_floor_ratios(night)
    assert night["training_s"] == 0.0 and night["floor_ratio"] == night["floor_ratio_without_training"] == 8.0


def test_compare_gives_time_per_person_against_the_smallest_place(tmp_path):
    (tmp_path / "100000.json").write_text(json.dumps(_figures(100_000, 100.0, 10.0)))
    (tmp_path / "1000000.json").write_text(json.dumps(_figures(1_000_000, 1500.0, 120.0)))
    (tmp_path / "validate-1000.json").write_text("{}")  # other benchmarks' files are left alone
    lines = compare(tmp_path).splitlines()
    assert "1,000,000" in lines[2] and " 1.50 " in lines[2] and " 1.20 " in lines[2]
    assert "1.5x 100,000" in lines[-1]


@pytest.mark.slow
def test_the_whole_benchmark_writes_every_figure(tmp_path):
    # too short a training history for a model: the lists carry the crisis tier only, and no time goes on training
    figures = run_bench(300, AS_OF, years=1, seed=2, work=tmp_path / "work", results_dir=tmp_path / "results",
                        place_extra="model:\n  history_months: 6\n")
    saved = json.loads((tmp_path / "results" / "300.json").read_text())
    for phase in ("first_load", "night"):
        for key in ("total_s", "floor_s", "peak_rss_mb", "stages_s", "floor_ratio", "startup_s", "training_s",
                    "floor_ratio_without_training"):
            assert key in saved[phase], (phase, key)
        assert set(saved[phase]["stages_s"]) >= {"validate", "load", "features", "score", "publish"}
        assert saved[phase]["status"] == "published"
    assert saved["night_deliveries"] and saved["airflow"]["task_startup_s"] > 0
    night = saved["night"]  # issue 16: the costs stage and its parts in rank and publish, and the baseline command
    assert {"costs", "rank.list_columns", "publish.baseline", "publish.cost_sentences"} <= set(night["costs_parts_s"])
    assert 0 < night["costs_s"] < night["total_s"] and 0 < night["costs_share"] < 1
    assert saved["baseline"]["wall_s"] > 0 and saved["baseline"]["files"] == ["baseline.html", "baseline.json"]
    assert figures["results_file"] == str(tmp_path / "results" / "300.json")
    assert not (tmp_path / "work").exists()  # the place is removed unless --keep


def test_the_night_share_of_costs_counts_the_stage_and_its_parts_elsewhere():
    phase = Phase(status="published")
    phase.steps["features"] = Measured(10.0, 11.0, 10.0, 500.0, {})
    phase.steps["costs"] = Measured(3.0, 4.0, 3.0, 400.0, {})
    phase.steps["rank"] = Measured(2.0, 3.0, 2.0, 300.0, {}, {"list_columns": 0.5})
    phase.steps["publish"] = Measured(5.0, 6.0, 5.0, 300.0, {}, {"baseline": 1.5, "cost_sentences": 0.0})
    night = phase.figures()
    assert night["total_s"] == 20.0 and night["costs_s"] == 5.0
    assert night["costs_parts_s"] == {"costs": 3.0, "rank.list_columns": 0.5, "publish.baseline": 1.5,
                                      "publish.cost_sentences": 0.0}
    assert night["costs_share"] == 0.25 and night["costs_added"] == round(5 / 15, 4)
    assert night["stages"]["publish"]["costs_parts_s"] == {"baseline": 1.5, "cost_sentences": 0.0}
    whole = _figures(330_000, 250.0, 20.0)
    whole["night"].update({k: night[k] for k in ("costs_s", "costs_parts_s", "costs_share", "costs_added")})
    whole["baseline"] = {"as_of": "2026-11-21", "wall_s": 75.0, "cpu_s": 90.0, "peak_rss_mb": 2048}
    text = report(whole)
    assert ("costs, handoffs and priorities (issue 16): 5.00 s of the night's 20.0 s = 25.0% of the night, "
            "adding 33.3% to the rest (target < 10% at 330,000 people: NOT met): the costs stage 3.00 s "
            "(15.0% of the night), rank.list_columns 0.50 s") in text
    assert "publish.baseline 1.50 s" in text
    assert "`stratify baseline` as of 2026-11-21 (issue 16): 75.0 s wall" in text
    assert "(target < 60 s at 3,000,000 people: set for that size)" in text
    whole["people"] = 3_000_000
    assert "(target < 60 s at 3,000,000 people: NOT met)" in report(whole)


def test_a_step_reports_the_costs_parts_timed_inside_it(place, tmp_path):
    cfg, _, _ = place
    config = cfg.landing.parent / "place.yaml"
    m = run_step({"op": "floor_files", "config": str(config), "files": [str(p) for p in landing_files(cfg)]}, tmp_path)
    assert m.costs_parts == {} and "costs_parts_s" not in m.figures()  # a step with no costs work reports none


def test_the_baseline_is_timed_again_on_a_kept_place_into_its_results(place, tmp_path):
    from stratify.bench import rerun_baseline
    from stratify.bench.measure import run_command

    cfg, _, _ = place
    work = cfg.landing.parent  # write_place's folder: a place with deliveries (none loaded: a baseline of nobody)
    (tmp_path / "2000.json").write_text(json.dumps({"people": 2000, "night": {"total_s": 9.0}}))
    figures = rerun_baseline(2000, work, DAY, results_dir=tmp_path)
    saved = json.loads((tmp_path / "2000.json").read_text())
    assert saved["night"] == {"total_s": 9.0}  # the rest of the results file is kept
    b = saved["baseline"]
    assert b["as_of"] == DAY.isoformat() and b["files"] == ["baseline.html", "baseline.json"]
    assert b["wall_s"] > 0.2 and b["cpu_s"] > 0 and 20 < b["peak_rss_mb"] < 4096
    assert figures["results_file"] == str(tmp_path / "2000.json")
    assert "`stratify baseline` as of 2026-11-21 (issue 16)" in "\n".join(issue16_lines(figures))
    with pytest.raises(BenchError, match="stratify no-such-command failed"):
        run_command(["no-such-command"], tmp_path)
    with pytest.raises(BenchError, match="no place.yaml"):
        rerun_baseline(2000, tmp_path, DAY, results_dir=tmp_path)
