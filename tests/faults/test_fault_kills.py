"""Killed runs (SIGKILL mid-load, mid-feature build, mid-publish) are followed by a run that completes correctly.

A real child process runs the night and kills itself with SIGKILL at one
point (see killer.py): no `finally`, no cleanup, DuckDB's log as it was. The
chain test kills four runs in a row, each at a later point, each next run
first closing the one before (its lock is stale); after each kill what people
see (`latest` and every file under it) is unchanged. The run after the last
kill completes, and equals a clean run: the same raw tables (nothing loaded
twice, nothing lost), the same lists; every killed run is recorded as failed
with a message naming the run that closed it, with no publication rows left.
"""

from __future__ import annotations

import os

import duckdb
import pytest
from conftest import NIGHT2, deliver_night2, lists_state, published_tree, quiet_run, raw_state, run_killed, run_status

from stratify.run.lock import lock_path

pytestmark = pytest.mark.slow
KILL_POINTS = ("load", "features", "publish-before-switch", "publish-mid-switch")


def test_runs_killed_before_publishing_change_nothing_and_the_next_run_equals_a_clean_one(place, clean_night2):
    cfg = place
    before = published_tree(cfg)
    deliver_night2(cfg)
    killed = []
    for point in KILL_POINTS:
        run_killed(cfg, NIGHT2, point)
        assert lock_path(cfg).exists(), point  # the killed process could not release it
        assert published_tree(cfg) == before, point  # latest and everything under it as they were
        last = run_status(cfg)[-1]
        assert last[2] == "running", point
        killed.append(last[0])
        if point == "load":  # the delivery was archived inside the uncommitted load: not in landing now
            assert not any(cfg.landing.rglob("*.parquet"))

    result = quiet_run(cfg, NIGHT2)
    assert result["status"] == "published", result
    assert raw_state(cfg) == clean_night2["raw"]
    assert lists_state(cfg) == lists_state(clean_night2["cfg"])
    assert not lock_path(cfg).exists()
    rows = {r[0]: r for r in run_status(cfg)}
    for i, rid in enumerate(killed):
        closer = killed[i + 1] if i + 1 < len(killed) else result["run_id"]
        assert rows[rid][2] == "failed" and "interrupted" in rows[rid][3] and closer in rows[rid][3], rows[rid]
        assert not (cfg.out / "runs" / rid).exists()  # a renamed run folder went back to staging
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        left = con.execute("SELECT count(*) FROM publications WHERE list_contains($1, run_id)", [killed]).fetchall()
        hist = con.execute("SELECT count(*) FROM list_history WHERE list_contains($1, run_id)", [killed]).fetchall()
    finally:
        con.close()
    assert left[0][0] == 0 and hist[0][0] == 0
    assert not any(p.is_file() for p in cfg.landing.rglob("*"))  # every delivery loaded, once


def test_a_run_killed_after_the_switch_is_recorded_as_published(place, clean_night2):
    cfg = place
    deliver_night2(cfg)
    run_killed(cfg, NIGHT2, "after-publish")
    killed = run_status(cfg)[-1]
    assert os.readlink(cfg.out / "latest") == os.path.join("runs", killed[0])
    assert lists_state(cfg) == lists_state(clean_night2["cfg"])  # what it published is complete

    result = quiet_run(cfg, NIGHT2)
    assert result["status"] == "published"
    assert raw_state(cfg) == clean_night2["raw"]
    assert lists_state(cfg, with_change=False) == lists_state(clean_night2["cfg"], with_change=False)
    rows = {r[0]: r for r in run_status(cfg)}
    assert rows[killed[0]][2] == "published" and "interrupted" in rows[killed[0]][3]
