"""`stratify bench app`: the figures from the load's samples, and one short real run against `stratify serve`.

The real run uses the app tests' hand-made published place (two teams), so
it needs no pipeline: three accounts made with `stratify users add`, one
server process, locust for a few seconds, no night. One team's list is
changed after publication, so that team's list pages are refused (503) and
the benchmark must count them as errors.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import date

import pytest
from app_place import AS_OF, RUN_ID, make_published_place

from stratify.bench.app_figures import figures_from, percentile, report_app
from stratify.bench.app_load import ensure_place, run_app_load
from stratify.bench.measure import BenchError
from stratify.errors import NotPublished

NEW = "20261121T020000000000Z"
RUNS = {RUN_ID: "2026-11-20", NEW: "2026-11-21"}


def _s(kind: str, start: float, ms: float = 10.0, run: str | None = None, ok: bool = True, why: str = "") -> dict:
    return {"kind": kind, "start": start, "status": 200 if ok else 503, "ms": ms, "ok": ok, "why": why,
            "run_id": run, "as_of": RUNS.get(run) if run else None, "user": "u"}


def _driven(samples: list[dict]) -> dict:
    return {"started": 100.0, "seconds": 10.0, "samples": samples, "locust": {}}


def test_percentiles_are_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 0.95) == 95 and percentile(values, 0.5) == 50 and percentile(values, 0.99) == 99
    assert percentile([7.0], 0.95) == 7.0 and percentile([], 0.95) is None


def test_pages_that_follow_the_new_run_and_latency_per_page():
    samples = [_s("list", 101, 50, RUN_ID), _s("person", 102, 300), _s("list (filtered)", 103, 100, RUN_ID),
               _s("list", 106, 20, NEW), _s("person", 107, 40), _s("list", 108, 30, NEW),
               _s("person", 109, 10, ok=False, why="status 404")]
    f = figures_from(_driven(samples), RUNS, RUN_ID, NEW, 105.0, 100.0, 110.0)
    assert f["requests"] == 7 and f["requests_per_s"] == 0.7
    assert f["errors"] == 1 and f["errors_by_reason"] == {"person: status 404": 1}
    assert f["pages"]["list"]["requests"] == 4 and f["pages"]["list"]["p95_ms"] == 100
    assert f["pages"]["person"]["p50_ms"] == 40 and f["pages"]["person"]["max_ms"] == 300
    p = f["publish"]
    assert p["published_during_load"] and p["followed"] and p["switch_at_s"] == 5.0
    assert (p["before_showing_old_run"], p["after_showing_new_run"], p["after_showing_old_run"]) == (2, 2, 0)
    assert p["new_run_shown_after_s"] == 1.0 and p["old_run_after_new"] == 0


def test_old_pages_just_after_the_switch_follow_but_going_back_to_the_old_run_does_not():
    lag = [_s("list", 101, 5, RUN_ID), _s("list", 105.5, 5, RUN_ID), _s("list", 106, 5, NEW), _s("list", 107, 5, NEW)]
    p = figures_from(_driven(lag), RUNS, RUN_ID, NEW, 105.0, 100.0, 110.0)["publish"]
    assert p["followed"] and p["after_showing_old_run"] == 1 and p["new_run_shown_after_s"] == 1.0
    back = figures_from(_driven([*lag, _s("list", 108, 5, RUN_ID)]), RUNS, RUN_ID, NEW, 105.0, 100.0, 110.0)
    assert not back["publish"]["followed"] and back["publish"]["old_run_after_new"] == 1


def test_a_page_of_the_old_run_after_the_switch_is_not_following_and_a_mixed_page_is_an_error():
    stale = _s("list", 107, 20, RUN_ID)
    mixed = {**_s("list", 108, 20, NEW), "as_of": "2026-11-20"}  # the new run's id beside the old run's date
    unknown = _s("list", 109, 20, "20261122T020000000000Z")
    f = figures_from(_driven([_s("list", 101, 5, RUN_ID), stale, mixed, unknown]), RUNS, RUN_ID, NEW, 105.0,
                     100.0, 110.0)
    p = f["publish"]
    assert not p["followed"] and p["after_showing_old_run"] == 2 and p["new_run_shown_after_s"] is None
    assert p["pages_mixing_runs"] == 1
    assert f["errors"] == 2 and set(f["errors_by_reason"]) == {
        "list: mixes two runs (a run's id with another run's data date)",
        "list: names a run that is not a published run folder"}
    late = figures_from(_driven([_s("list", 101, 5, RUN_ID)]), RUNS, RUN_ID, NEW, 120.0, 100.0, 110.0)
    assert not late["publish"]["published_during_load"] and not late["publish"]["followed"]


def test_a_person_gone_from_the_new_runs_page_is_a_404_but_not_an_error():
    samples = [_s("list", 101, 5, RUN_ID), {**_s("person", 106, 5, ok=False, why="status 404"), "status": 404},
               _s("list", 107, 5, NEW), {**_s("person", 108, 5, ok=False, why="status 404"), "status": 404}]
    f = figures_from(_driven(samples), RUNS, RUN_ID, NEW, 105.0, 100.0, 110.0)
    assert f["publish"]["person_gone_404"] == 1  # its link came from the old run's list
    assert f["errors"] == 1 and f["errors_by_reason"] == {"person: status 404": 1}  # this one's from the new list


def test_stratify_bench_app_is_a_command_of_its_own_and_refuses_impossible_options(tmp_path, capsys):
    from stratify.cli import main

    assert main(["bench", "app", "--people", "5", "--work", str(tmp_path), "--users", "0"]) == 1
    assert "--users must be at least 1" in capsys.readouterr().err
    assert main(["bench", "app", "--people", "5", "--work", str(tmp_path), "--load-from-stage", "lunch"]) == 1
    assert "--load-from-stage must be a stage: pull, discover" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before anything was built


def test_a_work_folder_with_a_place_of_another_size_or_other_files_is_refused(tmp_path):
    (tmp_path / "place").mkdir()
    cfg = make_published_place(tmp_path / "place")
    (cfg.path.parent / "5.json").write_text("{}", encoding="utf-8")
    with pytest.raises(BenchError, match="holds a place of 5 people, not 330,000"):
        ensure_place(330_000, cfg.path.parent, AS_OF, 1, 0, "")
    assert ensure_place(5, cfg.path.parent, AS_OF, 1, 0, "") == (cfg.path, False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(BenchError, match="not empty and holds no benchmark place"):
        ensure_place(5, other, AS_OF, 1, 0, "")
    assert (other / "notes.txt").exists()


def test_a_short_real_load_against_one_server_counts_requests_and_errors(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    cfg = make_published_place(work)
    (work / "5.json").write_text(json.dumps({"people": 5}), encoding="utf-8")  # what `stratify bench` leaves
    with open(cfg.out / "runs" / RUN_ID / "lists" / "NT02.csv", "a", encoding="utf-8") as fh:
        fh.write("# changed after publication\n")  # NT02's list pages must now be refused, and counted
    f = run_app_load(5, work, users=3, seconds=4, think_s=(0.1, 0.3), night_at=None, spawn_rate=10)
    assert f["signed_in"] == 3 and not f["place_built"]
    assert f["requests"] > 10 and f["requests"] == f["locust"]["requests"]
    assert f["pages"]["list"]["requests"] > 0 and f["pages"]["person"]["requests"] > 0
    assert f["pages"]["person"]["p95_ms"] > 0
    assert f["errors"] > 0 and set(f["errors_by_reason"]) <= {"list: status 503", "list (filtered): status 503"}
    nt01 = [s for s in json.loads((work / "app_load" / "driver.json").read_text())["samples"]
            if s["kind"] == "list" and s["user"] in ("load-001", "load-003")]
    assert nt01 and all(s["ok"] and s["run_id"] == RUN_ID and s["as_of"] == AS_OF.isoformat() for s in nt01)
    saved = json.loads(open(f["results_file"], encoding="utf-8").read())
    assert saved["requests"] == f["requests"] and saved["errors"] == f["errors"]
    assert saved["server"]["exit"] is not None  # the one server process was stopped
    with pytest.raises(ProcessLookupError):
        os.kill(saved["server"]["pid"], 0)
    accounts = work / "app_load_accounts.json"
    assert accounts.stat().st_mode & 0o077 == 0  # the accounts' passwords are owner-only
    text = report_app(f)
    print(text, f"\nset-up {f['setup_s']} s, server ready in {f['server']['ready_s']} s")
    assert "list pages p95" in text and "errors" in text and "night: none" in text


def _publish_second_run(cfg) -> None:
    """Copy the published run as run NEW (data up to the next day), record it, leave `latest` where it was."""
    import shutil

    from stratify.files.durable import sha256_file
    from stratify.run.audit import record_publications
    from stratify.run.context import RunContext

    old, new = cfg.out / "runs" / RUN_ID, cfg.out / "runs" / NEW
    shutil.copytree(old, new)
    (new / "manifest.json").write_text(json.dumps({"run_id": NEW, "as_of": RUNS[NEW]}), encoding="utf-8")
    files = [{"team": None, "path": str(p.relative_to(new)), "rows": None, "sha256": sha256_file(p)}
             for p in sorted(new.rglob("*")) if p.is_file()]
    record_publications(cfg, RunContext(NEW, cfg.place, date.fromisoformat(RUNS[NEW])), files)


def _switch(cfg, run_id: str) -> None:
    tmp = cfg.out / ".latest-tmp"
    os.symlink(os.path.join("runs", run_id), tmp)
    os.replace(tmp, cfg.out / "latest")


def test_the_app_leaves_the_warehouse_alone_while_a_night_runs_and_follows_the_new_run_after(tmp_path):
    """Found by `stratify bench app`: checking a new run while the night still wrote the warehouse was a 500,
    and the app's read-only open of the warehouse made the night's publish stage fail."""
    import subprocess
    import sys

    from stratify.app.published import RunCache, run_in_progress
    from stratify.run.lock import lock_path

    cfg = make_published_place(tmp_path)
    _publish_second_run(cfg)
    runs = RunCache()
    assert runs.current_run(cfg).run_id == RUN_ID and not run_in_progress(cfg)
    lock_path(cfg).write_text(json.dumps({"run_id": NEW, "pid": os.getpid()}), encoding="utf-8")  # a night runs
    assert run_in_progress(cfg)
    _switch(cfg, NEW)  # it switched `latest` and is closing its run
    assert runs.current_run(cfg).run_id == RUN_ID  # the warehouse is not touched while the night writes it
    with pytest.raises(NotPublished, match="nightly run is writing the warehouse"):
        RunCache().current_run(cfg)  # a server that never checked a run has nothing to show meanwhile
    gone = {"run_id": NEW, "pid": 2**22 + 7, "host": socket.gethostname()}
    lock_path(cfg).write_text(json.dumps(gone), encoding="utf-8")
    assert not run_in_progress(cfg)  # its process is gone: a stale lock is no run
    lock_path(cfg).unlink()
    writer = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); time.sleep(60)", str(cfg.warehouse)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "open"  # another program writes the warehouse
        assert runs.current_run(cfg).run_id == RUN_ID  # refused by DuckDB: the last run, whole, not an error
        with pytest.raises(NotPublished, match="while the warehouse is in use"):
            RunCache().current_run(cfg)
    finally:
        writer.kill()
        writer.wait()
    run = runs.current_run(cfg)
    assert run.run_id == NEW and run.folder == cfg.out / "runs" / NEW
    assert runs.current_run(cfg) is run


def test_a_team_view_is_parsed_once_per_run_but_its_files_are_checked_every_time(tmp_path, monkeypatch):
    from stratify.app import published

    cfg = make_published_place(tmp_path)
    runs = published.RunCache()
    parsed = []
    real = published.team_view
    monkeypatch.setattr(published, "team_view", lambda run, team: parsed.append(team) or real(run, team))
    run = runs.current_run(cfg)
    first = runs.team_view(run, "NT01")
    assert runs.team_view(run, "NT01") is first and parsed == ["NT01"]
    assert len(first.listed) == 3 and first.as_of == AS_OF
    assert "teams/NT01/snoozed.csv" in published.view_files(run, "NT01")
    snoozed = cfg.out / "runs" / RUN_ID / "teams" / "NT01" / "snoozed.csv"
    snoozed.write_text(snoozed.read_text(encoding="utf-8") + "x,,,,,,,,\n", encoding="utf-8")
    with pytest.raises(NotPublished, match="not the file that was published"):
        runs.team_view(run, "NT01")  # changed after its first view: refused all the same


def test_a_page_does_not_checkpoint_the_app_database_on_its_way_out(tmp_path):
    """Each request opens and closes its own connection; were it the last one, SQLite would checkpoint the WAL
    and fsync the database file on every page (about a fifth of a page's time, `stratify bench app`)."""
    from app_place import Clock, add_users, client, log_in

    cfg = make_published_place(tmp_path)
    add_users(cfg)
    c = client(cfg, Clock())
    log_in(c, "ann")
    wal = cfg.app_database.with_name(cfg.app_database.name + "-wal")
    for _ in range(3):
        assert c.get("/teams/NT01").status_code == 200
        assert wal.exists() and wal.stat().st_size > 0  # the log of this page's writes is still there: no checkpoint
