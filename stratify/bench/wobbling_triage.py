"""dssg/triage as the wobbling benchmark's peer: what it is given, running it in its own venv, reading its scores.

triage is given what stratify's first night had: every delivered event (the
current version of each, dated by the as-of date) and the crisis label, as
stratify's own crisis rules say it on every monthly date of the last 24
months (the feature SQL and rules of the place, history as known on the
as-of date: the same as the wobbling label). `bench/triage/run_triage.py`
runs in triage's own virtual environment (`bench/triage/make_venv.sh`),
loads these into its own PostgreSQL database, runs the experiment
(`bench/triage/experiment.yaml`) and writes the chosen model's scores on the
as-of date. The product never imports triage; `make test` never runs it.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pandas as pd

from stratify.bench.wobbling_truth import months_after
from stratify.bench.wobbling_worlds import BenchWorld
from stratify.contract import load_contract
from stratify.features.build import build_feature_snapshots, drop_intermediates
from stratify.resources import PROJECT_ROOT, SQL_DIR
from stratify.rules import crisis_flags, required_columns
from stratify.warehouse.connect import connect
from stratify.warehouse.identifiers import quote_identifier
from stratify.warehouse.sql import read_sql

RUNNER = PROJECT_ROOT / "bench" / "triage" / "run_triage.py"
LABEL_MONTHS = 24  # back from the as-of date: the earliest training date (bench/triage/experiment.yaml: label_start_time)


def export_for_triage(world: BenchWorld, work: Path) -> float:
    """Write events.parquet, crisis_monthly.parquet, people.parquet and meta.json into `work`; returns seconds."""
    t0 = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    cfg, as_of = world.place, world.as_of
    dates = [months_after(as_of, -k) for k in range(LABEL_MONTHS, -1, -1)]
    rule_cols = required_columns(cfg.rules)
    with connect(cfg) as con:
        con.sql(read_sql(SQL_DIR / "bench_triage_events.sql"), params={"as_of": as_of}).to_parquet(
            str(work / "events.parquet"))
        people = con.sql(read_sql(SQL_DIR / "bench_triage_people.sql")).df()
        build_feature_snapshots(con, cfg, dates, known_at=as_of, target="feat_train", persons="persons")
        available = [c for (c,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'feat_train'").fetchall()]
        select = ", ".join(quote_identifier(c, available) for c in ["person_id", "as_of", *rule_cols])
        snaps = con.sql(f"SELECT {select} FROM feat_train").df()
        drop_intermediates(con)
    snaps["in_crisis"] = crisis_flags(snaps, cfg.rules)
    ids = pd.Series(people["entity_id"].to_numpy(), index=people["person_id"].to_numpy())
    monthly = pd.DataFrame({"entity_id": snaps["person_id"].map(ids).astype("int32"),
                            "as_of_date": pd.to_datetime(snaps["as_of"]).dt.date, "in_crisis": snaps["in_crisis"]})
    monthly.to_parquet(work / "crisis_monthly.parquet", index=False)
    people.to_parquet(work / "people.parquet", index=False)
    contract = load_contract()
    (work / "meta.json").write_text(json.dumps({
        "sources": [s.name for s in contract.event_sources],
        "event_types": sorted({e for s in contract.event_sources for e in s.event_types}),
    }), encoding="utf-8")
    return time.perf_counter() - t0


def triage_scores(world: BenchWorld, venv: Path, work: Path, top_n: int) -> tuple[pd.Series | None, float | None, str]:
    """(person_id -> triage's score on the as-of date, seconds of triage's whole experiment, what happened)."""
    export_s = export_for_triage(world, work)
    t0 = time.perf_counter()
    done = subprocess.run(["nice", "-n", "10", str(venv / "bin" / "python"), str(RUNNER), "--work", str(work),
                           "--as-of", world.as_of.isoformat(), "--top-n", str(top_n),
                           "--db", f"stratify_triage_bench_{world.name}_{world.people}"],  # one per place: side by side
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    (work / "triage.log").write_text(done.stdout + "\n" + done.stderr, encoding="utf-8")
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return None, None, f"failed ({tail}); log in {work / 'triage.log'}"
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    people = pd.read_parquet(work / "people.parquet")
    scores = pd.read_csv(work / "triage_scores.csv")
    by_id = pd.Series(people["person_id"].to_numpy(), index=people["entity_id"].to_numpy())
    out = pd.Series(scores["score"].to_numpy(dtype=float), index=scores["entity_id"].map(by_id).to_numpy())
    return out, seconds, f"export {export_s:.0f} s; {json.dumps(summary)}"
