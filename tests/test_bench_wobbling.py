"""The wobbling benchmark: its precision, its rankings, cutting a world back to the as-of date, and one small run."""

from datetime import date

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stratify.bench.wobbling import bench_one
from stratify.bench.wobbling_rankings import top_per_team
from stratify.bench.wobbling_report import precision, table
from stratify.bench.wobbling_worlds import cut_deliveries

AS_OF = date(2026, 11, 20)


def test_precision_pools_the_teams_picks_and_top_per_team_ranks_within_each_team():
    frame = pd.DataFrame({"person_id": list("abcdef"), "team": ["T1", "T1", "T1", "T2", "T2", "T2"],
                          "x": [3, 1, 2, 0, 5, 5], "y": [0, 0, 0, 0, 1, 0]})
    picked = top_per_team(frame, ["x", "y"], 2)
    assert picked == {"T1": ["a", "c"], "T2": ["e", "f"]}  # e before f: y breaks the tie in x
    assert precision(picked, {"a", "f", "z"}) == (0.5, 4)
    assert precision({"T1": []}, {"a"}) == (None, 0)
    text = table([{"world": "stepwise", "people": 1000, "ranking": "heuristic", "p10": 0.5, "n10": 4,
                   "p25": None, "n25": 0, "seconds": 1.2}])
    assert "50.0%" in text and "n/a" in text


def test_a_world_cut_back_to_the_as_of_date_keeps_nothing_later(tmp_path):
    src, dst = tmp_path / "full", tmp_path / "cut"
    (src / "health").mkdir(parents=True)
    (src / "register").mkdir(parents=True)
    events = pa.table({"record_id": ["H1", "H2", "H3"], "event_date": pa.array(
        [date(2026, 11, 19), date(2026, 11, 20), date(2026, 11, 21)], pa.date32())})
    pq.write_table(events, src / "health" / "health_20270521.parquet")
    pq.write_table(events.slice(0, 1), src / "health" / "health_20270521_2.parquet")
    register = pa.table({"person_id": ["p1", "p2", "p3"], "birth_year_month": ["1980-01", "2026-11", "2026-12"],
                         "date_of_death": pa.array([date(2026, 12, 1), date(2026, 1, 1), None], pa.date32())})
    pq.write_table(register, src / "register" / "register_20270521.parquet")
    assert cut_deliveries(src, dst, AS_OF) == 3
    cut = pq.read_table(dst / "health" / "health_20261120.parquet").to_pydict()
    assert cut["record_id"] == ["H1", "H2"]
    assert (dst / "health" / "health_20261120_2.parquet").exists()
    reg = pq.read_table(dst / "register" / "register_20261120.parquet").to_pydict()
    assert reg["person_id"] == ["p1", "p2"]  # p3 was born after the as-of date
    assert reg["date_of_death"] == [None, date(2026, 1, 1)]  # p1's death was still to come


@pytest.mark.slow
def test_one_small_run_scores_every_ranking_against_what_happened_after_the_as_of_date(tmp_path):
    rows = bench_one("stepwise", 3000, AS_OF, 1, tmp_path, None)
    by = {r["ranking"]: r for r in rows}
    assert set(by) == {"stratify", "stratify by score", "heuristic", "answer key"}
    for r in rows:
        assert r["n10"] > 0 and r["n25"] >= r["n10"] and (r["p10"] is None or 0 <= r["p10"] <= 1)
    assert by["stratify"]["seconds"] > 0
    # the oracle knows more than the place did on the as-of date: whoever the night found in crisis, it does too
    place = duckdb.connect(str(tmp_path / "stepwise-3000" / "place" / "place.duckdb"), read_only=True)
    try:
        night = {p for (p,) in place.execute("SELECT person_id FROM crisis WHERE in_crisis").fetchall()}
    finally:
        place.close()
    from stratify.bench.wobbling_truth import crisis_after
    from stratify.config import load_config

    oracle = load_config(tmp_path / "stepwise-3000" / "oracle" / "place.yaml")
    truth = crisis_after(oracle, AS_OF, date(2027, 5, 22))
    seen = truth.index[truth["in_crisis_at_as_of"]]
    assert night and len(night & set(seen)) >= 0.95 * len(night)
    assert (truth["first_month"] > 0).sum() > 0
    # what triage would be given: the delivered events and the crisis label of stratify's own rules
    from stratify.bench.wobbling_triage import export_for_triage
    from stratify.bench.wobbling_worlds import world_of

    world = world_of("stepwise", tmp_path / "stepwise-3000", 3000, AS_OF)
    export_for_triage(world, tmp_path / "triage")
    people = pd.read_parquet(tmp_path / "triage" / "people.parquet").set_index("entity_id")["person_id"]
    monthly = pd.read_parquet(tmp_path / "triage" / "crisis_monthly.parquet")
    assert monthly["as_of_date"].nunique() == 25 and monthly.groupby("as_of_date").size().nunique() == 1
    tonight = monthly[(monthly["as_of_date"] == AS_OF) & monthly["in_crisis"]]
    assert set(tonight["entity_id"].map(people)) == night  # the label is the rules stage's, on every date
    events = pd.read_parquet(tmp_path / "triage" / "events.parquet")
    assert events["event_date"].max() <= AS_OF and events["entity_id"].isin(people.index).all()
