"""Publishing: change labels, and the atomic switch of `latest`."""

import os

import pandas as pd

from helpers import write_place
from stratify.lists.change import change_against
from stratify.publish.stage import switch_latest
from stratify.run.context import RunContext, latest_link, staging_dir


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


def test_publication_gate_counts_a_source_refused_only_when_none_of_its_files_got_in(tmp_path):
    from datetime import date

    from helpers import add_person
    from stratify.publish.stage import publication_gate
    from stratify.run.audit import start_run
    from stratify.warehouse.database import connect

    cfg = write_place(tmp_path)
    ctx = start_run(cfg, date(2026, 6, 1))
    with connect(cfg) as con:
        assert publication_gate(cfg, ctx).startswith("no person register")
        add_person(con, 1)

    def deliver(source, decision):
        with connect(cfg) as con:
            con.execute("INSERT INTO deliveries (run_id, source, file_name, sha256, size_bytes, received_at, decision) "
                        "VALUES ($1, $2, 'f', 'x', 1, now(), $3)", [ctx.run_id, source, decision])

    deliver("health", "refused")
    deliver("health", "accepted")
    deliver("police", "accepted")
    assert publication_gate(cfg, ctx) is None  # health got one file in
    deliver("housing", "refused")
    deliver("social_care", "held")
    assert "2 of 4 sources" not in (publication_gate(cfg, ctx) or "")  # 2 of 4 is not more than half
    deliver("outcomes", "refused")
    assert publication_gate(cfg, ctx).startswith("3 of 5 sources")
    deliver("register", "refused")
    assert "register" in publication_gate(cfg, ctx)
