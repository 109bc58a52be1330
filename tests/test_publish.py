"""Publishing: change labels, and the atomic switch of `latest`."""

import os

import pandas as pd

from helpers import write_place
from stratify.context import RunContext, latest_link, staging_dir
from stratify.publish import change_against, switch_latest


def lst(rows):
    return pd.DataFrame(rows, columns=["rank", "person_id", "tier"])


def test_change_labels():
    prev = lst([(1, "a", "crisis"), (2, "b", "wobbling"), (3, "c", "wobbling"), (4, "d", "wobbling")])
    cur = lst([(1, "a", "crisis"), (2, "c", "crisis"), (3, "b", "wobbling"), (4, "e", "wobbling"), (5, "d", "wobbling")])
    assert change_against(cur, prev) == ["same", "up", "down", "new", "down"]
    assert change_against(cur, None) == ["new"] * 5
    assert change_against(prev, prev) == ["same"] * 4


def test_crisis_to_wobbling_is_down_even_at_a_better_rank():
    prev = lst([(1, "x", "wobbling"), (2, "a", "crisis")])
    cur = lst([(1, "a", "wobbling")])
    assert change_against(cur, prev) == ["down"]


def test_switch_latest_is_a_relative_symlink_to_the_run(tmp_path):
    cfg = write_place(tmp_path)
    first, second = RunContext("r1", "test", pd.Timestamp("2026-06-01").date()), RunContext("r2", "test", pd.Timestamp("2026-06-02").date())
    for ctx in (first, second):
        staging_dir(cfg, ctx).mkdir(parents=True)
        (staging_dir(cfg, ctx) / "manifest.json").write_text(ctx.run_id)
        switch_latest(cfg, ctx)
        assert (latest_link(cfg) / "manifest.json").read_text() == ctx.run_id
    assert os.readlink(latest_link(cfg)) == os.path.join("runs", "r2")
    assert not staging_dir(cfg, second).exists()
    assert [p.name for p in (cfg.out).iterdir() if p.name.startswith(".latest")] == []
