"""Every failure condition of issue 7, done for real, ends in a clear failure that loses nothing.

Each test breaks a fresh copy of the small published place (`place`, see
conftest.py) while NIGHT2's police delivery waits in landing, runs the night
through the `stratify` command line (in this process, `stratify.cli.main`, so
the exit code and the message are the ones an operator sees), and checks:

- exit status 1 (2 for the configuration) and a message naming the cause and
  what to do; `<out>/status.json` says `failed`, with the stage and an action;
- `latest` and every file under it byte-identical to before (`published_tree`);
- no delivery lost: NIGHT2's file is in landing or in the archive, whole;
- once the fault is cleared, the next run equals the clean reference run
  (`clean_night2`): the same raw tables, the same lists.

| fault | how it is made | what the pipeline did |
| --- | --- | --- |
| a1. disk full while loading | warehouse folder on a tmpfs; a filler file takes its last byte when `load` starts | DuckDB's commit fails (ENOSPC); exit 1 "the disk is full (writing …)", status.json failed at `load` with "free space on the disk holding …"; recording the failure in the full warehouse fails too, so the run stays `running` there: the next run (after space is freed) closes it as failed ("interrupted … never closed") and puts its archived-but-unloaded delivery back into landing, then loads it once (before the fix the run stayed `running` for good and its delivery, archived inside the failed load, never went back to landing: the next run did not load it) |
| a2. disk full while publishing | out folder on a tmpfs, filled when `publish` starts | writing the staging lists fails (ENOSPC); `latest` untouched; status.json cannot be replaced on a full disk, so it is rewritten in place (it was written at the run's start, its space is already allocated): failed at `publish`, with "free space" (before the fix it still said `running`) |
| b. warehouse corrupt | 4 KiB stripes overwritten through the file / file truncated to half | overwritten: DuckDB's block checksums fail when the file is opened, the run fails at `start` before anything is touched; truncated: DuckDB opens it and the first stage that reads a missing block fails (here `validate`). Both: exit 1 naming the file, "damaged", "restore it from its last backup, or rebuild it … from the archive" (before the fix a checksum error read "in use by another program", because "block" contains "lock", and a short read mid-run got no advice); the delivery waits in landing; with the backup copied back the next run equals the clean one |
| c. warehouse locked by another program | a second process holds a DuckDB write connection on the file | exit 1 at once (the command is run as a real process with a 60 s limit: no hang) "in use by another program … wait for it to finish or stop it" |
| d1. `out/runs` not writable | a read-only bind mount (root ignores chmod 0555) | refused at start before anything else is touched: exit 1 "the output folder … is not writable", status.json failed at `start` |
| d2. the whole `out` read-only | read-only bind mount of `out` | the same refusal on the terminal; status.json cannot be written on a read-only folder (it is left as it was, which the test checks) |
| e. configuration with several bad keys | one YAML with an unknown key, wrong types and bad values | exit 2, one ConfigError naming every bad key (see tests/test_contract_config.py for the parser's own tests) |
| f. promoted model missing / corrupt / another scikit-learn / another model format | a `models` row promoted, its file absent, garbage, or a bundle saved with another version or format | the night FAILS at `score` (decision: a promoted model that cannot be used is an operator's problem to fix, not a reason to quietly publish crisis-only lists; the README's crisis-only lists are for a place that has no promoted model yet); exit 1 naming the model file, "restore the model file or run `stratify train`"; `latest` stays; the loaded delivery stays loaded, and with the model withdrawn the next run equals the clean one |
| g. BST ends during the run | time-machine: starts 2026-10-25 00:59 BST (23:59 UTC), each stage moves the clock on, publish runs at 02:30 GMT | as-of date, run id, run folder, manifest and every row of the run carry one date and one id; nothing dated twice or skipped; the next night's run follows on |
| h. a delivery arrives during discovery | real writes at a chosen moment: just after discovery hashed a half-written file, its sender writes the rest and another file appears | the new file is not seen until the next run; the grown file is recognised as changed since it was hashed and left in landing as in flight (before the fix it was recorded with the half file's sha256 and size); the next run takes both whole |
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import NIGHT1, NIGHT2, PROJECT, deliver_night2, lists_state, published_tree, quiet_run, raw_state, run_status

from stratify.config import PlaceConfig

pytestmark = pytest.mark.slow  # ~1 minute together on two busy cores (each test a few seconds, plus the session place)

# --------------------------------------------------------------------------- helpers


def run_cli(cfg: PlaceConfig, as_of: date, capsys, monkeypatch) -> tuple[int, str]:
    """`stratify run` in this process (no settle pause at discovery); (exit status, what it printed to stderr)."""
    from threadpoolctl import threadpool_limits

    import stratify.ingest.discover
    from stratify.cli import main

    real = stratify.ingest.discover.discover_deliveries
    monkeypatch.setattr(stratify.ingest.discover, "discover_deliveries", lambda c, x: real(c, x, settle_seconds=0))
    capsys.readouterr()
    with threadpool_limits(1):
        code = main(["run", "--config", str(cfg.path), "--as-of", as_of.isoformat()])
    monkeypatch.setattr(stratify.ingest.discover, "discover_deliveries", real)
    return code, capsys.readouterr().err


def status(cfg: PlaceConfig) -> dict:
    return json.loads((cfg.out / "status.json").read_text(encoding="utf-8"))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def night2_files(cfg: PlaceConfig) -> dict[str, str]:
    """NIGHT2's deliveries as the agencies sent them: name -> sha256."""
    return {f.name: sha(f) for f in (cfg.path.parent / "night2").glob("*.parquet")}


def assert_nothing_lost(cfg: PlaceConfig) -> None:
    """Every NIGHT2 delivery is whole in landing or in the archive."""
    for name, digest in night2_files(cfg).items():
        source = name.rsplit("_", 1)[0]
        kept = [p for p in (cfg.landing / source / name, cfg.archive / source / name) if p.is_file()]
        assert any(sha(p) == digest for p in kept), f"{name} is neither in landing nor in the archive, whole"


def assert_failed_clearly(cfg: PlaceConfig, code: int, err: str, before: dict, stage: str, *words: str,
                          status_written: bool = True) -> None:
    assert code == 1, err
    for w in words:
        assert w in err, (w, err)
    assert "What to do:" in err, err
    assert published_tree(cfg) == before
    if status_written:
        s = status(cfg)
        assert s["status"] == "failed" and s["stage"] == stage and s["action"], s
        assert "last good lists stay published" in s["action"], s
    assert_nothing_lost(cfg)


def assert_next_run_is_clean(cfg: PlaceConfig, clean: dict) -> dict:
    result = quiet_run(cfg, NIGHT2)
    assert result["status"] == "published", result
    assert raw_state(cfg) == clean["raw"]
    assert lists_state(cfg) == lists_state(clean["cfg"])
    assert not any(p.is_file() for p in cfg.landing.rglob("*"))  # every delivery loaded
    assert [r for r in run_status(cfg) if r[2] == "running"] == []
    return result


@contextmanager
def small_disk(folder: Path, spare_mb: int):
    """Put `folder` (its current contents copied over) on a tmpfs `spare_mb` MiB larger than them."""
    used = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    aside = folder.with_name(folder.name + ".aside")
    folder.rename(aside)
    folder.mkdir()
    size = used // (1 << 20) + spare_mb
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}M,mode=0750", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        folder.rmdir()
        aside.rename(folder)
        pytest.skip(f"cannot mount a small tmpfs here (needs root and mount permission): {proc.stderr.strip()}")
    try:
        shutil.copytree(aside, folder, symlinks=True, dirs_exist_ok=True)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Write a filler file into `folder` until the disk is full; returns it (delete it to free the space)."""
    filler = folder / "filler.bin"
    block = b"\0" * (1 << 16)
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(block)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
            small = b"\0" * 512
            try:
                while True:
                    fh.write(small)
                    fh.flush()
            except OSError:
                pass
    return filler


@contextmanager
def read_only(folder: Path):
    """`folder` as a read-only bind mount of itself: root ignores chmod, not a read-only mount."""
    proc = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot bind-mount here (needs root and mount permission): {proc.stderr.strip()}")
    try:
        proc = subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot remount read-only: {proc.stderr.strip()}")
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def before_stage(monkeypatch, module, name: str, action) -> None:
    """Call `action()` just before the stage function `module.name` runs."""
    real = getattr(module, name)

    def wrapped(*a, **k):
        action()
        return real(*a, **k)
    monkeypatch.setattr(module, name, wrapped)


# --------------------------------------------------------------------------- a. the disk fills up


def test_a1_disk_full_while_loading(place, clean_night2, capsys, monkeypatch):
    import stratify.ingest.load

    cfg = place
    before = published_tree(cfg)
    deliver_night2(cfg)
    with small_disk(cfg.warehouse.parent, spare_mb=16) as disk:
        fillers = []
        before_stage(monkeypatch, stratify.ingest.load, "load_deliveries", lambda: fillers.append(fill(disk)))
        code, err = run_cli(cfg, NIGHT2, capsys, monkeypatch)
        monkeypatch.undo()
        assert fillers, f"the load stage was never reached: {err}"
        assert_failed_clearly(cfg, code, err, before, "load", "the disk is full", str(disk))
        assert "free space" in status(cfg)["action"]
        fillers[0].unlink()
        result = assert_next_run_is_clean(cfg, clean_night2)
        failed = [r for r in run_status(cfg) if r[1] == NIGHT2 and r[0] != result["run_id"]]
    assert len(failed) == 1 and failed[0][2] == "failed" and "never recorded" in failed[0][3], failed


def test_a2_disk_full_while_publishing(place, clean_night2, capsys, monkeypatch):
    import stratify.publish.stage

    cfg = place
    before = published_tree(cfg)
    deliver_night2(cfg)
    with small_disk(cfg.out, spare_mb=16) as disk:
        fillers = []
        before_stage(monkeypatch, stratify.publish.stage, "publish_lists", lambda: fillers.append(fill(disk)))
        code, err = run_cli(cfg, NIGHT2, capsys, monkeypatch)
        monkeypatch.undo()
        assert fillers, f"the publish stage was never reached: {err}"
        assert_failed_clearly(cfg, code, err, before, "publish", "the disk is full")
        assert "free space" in status(cfg)["action"]
        fillers[0].unlink()
        assert_next_run_is_clean(cfg, clean_night2)


# --------------------------------------------------------------------------- b. the warehouse is corrupt


@pytest.mark.parametrize("damage", ["overwritten", "truncated"])
def test_b_corrupt_warehouse(place, clean_night2, published_place, capsys, monkeypatch, damage):
    cfg = place
    before = published_tree(cfg)
    deliver_night2(cfg)
    size = cfg.warehouse.stat().st_size
    with open(cfg.warehouse, "r+b") as fh:
        if damage == "truncated":
            fh.truncate(size // 2)
        else:
            for offset in range(1 << 12, size, size // 8):  # a 4 KiB stripe every eighth of the file
                fh.seek(offset)
                fh.write(os.urandom(4096))
    code, err = run_cli(cfg, NIGHT2, capsys, monkeypatch)
    # Overwritten blocks fail DuckDB's checksums when the file is opened; a cut-short file opens, and fails
    # at the first stage that reads a missing block (here validate): the same message and advice.
    stage = "start" if damage == "overwritten" else status(cfg)["stage"]
    assert_failed_clearly(cfg, code, err, before, stage, str(cfg.warehouse), "damaged", "backup", "archive")
    assert (cfg.landing / "police" / f"police_{NIGHT2:%Y%m%d}.parquet").is_file()  # still waiting in landing
    shutil.copyfile(published_place / "wh" / "wh.duckdb", cfg.warehouse)  # restored from the backup
    assert_next_run_is_clean(cfg, clean_night2)


# --------------------------------------------------------------------------- c. the warehouse is locked


def test_c_warehouse_held_by_another_program(place, clean_night2):
    cfg = place
    before = published_tree(cfg)
    deliver_night2(cfg)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
                               "c.execute('SELECT 1').fetchall(); print('ready', flush=True); sys.stdin.read()",
         str(cfg.warehouse)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        proc = subprocess.run([str(Path(sys.executable).with_name("stratify")), "run", "--config", str(cfg.path),
                               "--as-of", NIGHT2.isoformat()], capture_output=True, text=True, timeout=60, cwd=PROJECT)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert_failed_clearly(cfg, proc.returncode, proc.stderr, before, "start", str(cfg.warehouse),
                          "in use by another program")
    assert_next_run_is_clean(cfg, clean_night2)


# --------------------------------------------------------------------------- d. the output folder is not writable


def test_d1_runs_folder_read_only(place, clean_night2, capsys, monkeypatch):
    """A read-only bind mount of `out/runs` (as root, chmod 0555 would not stop the writes)."""
    cfg = place
    before = published_tree(cfg)
    deliver_night2(cfg)
    with read_only(cfg.out / "runs"):
        code, err = run_cli(cfg, NIGHT2, capsys, monkeypatch)
    assert_failed_clearly(cfg, code, err, before, "start", str(cfg.out), "not writable")
    assert "writable" in status(cfg)["action"]
    assert_next_run_is_clean(cfg, clean_night2)


def test_d2_whole_out_folder_read_only(place, clean_night2, capsys, monkeypatch):
    """A read-only bind mount of `out`: the status file cannot be written either, and is left as it was."""
    cfg = place
    before = published_tree(cfg)
    status_before = (cfg.out / "status.json").read_bytes()
    deliver_night2(cfg)
    with read_only(cfg.out):
        code, err = run_cli(cfg, NIGHT2, capsys, monkeypatch)
    assert_failed_clearly(cfg, code, err, before, "start", str(cfg.out), "not writable", status_written=False)
    assert (cfg.out / "status.json").read_bytes() == status_before
    assert_next_run_is_clean(cfg, clean_night2)


# --------------------------------------------------------------------------- e. the configuration is invalid


def test_e_config_with_several_bad_keys_names_every_one(place, capsys, monkeypatch):
    cfg = place
    before = published_tree(cfg)
    text = cfg.path.read_text(encoding="utf-8")
    cfg.path.write_text(text.replace("default: 10", "default: ten") +
                        "colour: blue\nlists:\n  snooze_days: -3\nduckdb:\n  threads: two\n  memry: 1GB\n",
                        encoding="utf-8")
    from stratify.cli import main

    code = main(["run", "--config", str(cfg.path), "--as-of", NIGHT2.isoformat()])
    err = capsys.readouterr().err
    assert code == 2, err
    for key in ("capacity.default", "colour", "lists.snooze_days", "duckdb.threads", "duckdb: unknown key(s) memry"):
        assert key in err, (key, err)
    assert "5 problems" in err, err
    assert published_tree(cfg) == before


# --------------------------------------------------------------------------- f. the promoted model is unusable


def promote_model(cfg: PlaceConfig, path: Path) -> None:
    """Register `path` as the promoted wobbling model, as `stratify train` would."""
    con = duckdb.connect(str(cfg.warehouse))
    try:
        con.execute("INSERT INTO models VALUES ($1, $2, $3, $4, $5, 6, 'hgb', $6, '{}', true, NULL)",
                    ["20261120-hgb-faulty00", datetime.now(UTC), NIGHT1, NIGHT1 - timedelta(days=365),
                     NIGHT1, str(path)])
    finally:
        con.close()


def withdraw_models(cfg: PlaceConfig) -> None:
    con = duckdb.connect(str(cfg.warehouse))
    try:
        con.execute("UPDATE models SET promoted = false")
    finally:
        con.close()


@pytest.mark.parametrize("fault", ["missing", "corrupt", "other_sklearn", "other_format"])
def test_f_unusable_promoted_model_fails_the_night(place, clean_night2, capsys, monkeypatch, fault):
    """Decision: the night fails at `score` and `latest` stays (no quiet crisis-only lists; see the table)."""
    import joblib

    from stratify.model.registry import MODEL_FORMAT

    cfg = place
    before = published_tree(cfg)
    deliver_night2(cfg)
    path = cfg.models / "wobbling-20261120-hgb-faulty00.joblib"
    path.parent.mkdir(parents=True, exist_ok=True)
    if fault == "corrupt":
        path.write_bytes(os.urandom(2048))
    elif fault == "other_sklearn":
        joblib.dump({"format": MODEL_FORMAT, "sklearn_version": "1.5.2", "model_version": "x"}, path)
    elif fault == "other_format":
        joblib.dump({"format": "wobbling-bundle-0", "model_version": "x"}, path)
    promote_model(cfg, path)
    code, err = run_cli(cfg, NIGHT2, capsys, monkeypatch)
    assert_failed_clearly(cfg, code, err, before, "score", str(path), "stratify train")
    assert "restore the model file" in status(cfg)["action"]
    withdraw_models(cfg)
    assert_next_run_is_clean(cfg, clean_night2)


# --------------------------------------------------------------------------- g. the clock crosses a BST change


def test_g_run_across_the_end_of_bst(place, monkeypatch):
    """time-machine moves the real clock (datetime.now, time.time) on at every stage, across 02:00 BST -> 01:00 GMT."""
    import time_machine

    import stratify.run.pipeline

    cfg = place
    london = __import__("zoneinfo").ZoneInfo("Europe/London")
    as_of = date(2026, 10, 24)  # the night of Saturday 24 October 2026: BST ends at 02:00 on the 25th
    start = datetime(2026, 10, 25, 0, 59, tzinfo=london)
    assert start.utcoffset() == timedelta(hours=1)
    end = datetime(2026, 10, 25, 2, 30, tzinfo=london)
    assert end.utcoffset() == timedelta(0)
    seen = []
    with time_machine.travel(start, tick=True) as clock:
        real = stratify.run.pipeline.stage_function
        steps = iter(range(1, 100))

        def stage_function(name):
            fn = real(name)

            def timed(c, ctx):
                clock.move_to(start + (end - start) * next(steps) / len(stratify.run.pipeline.STAGES))
                seen.append((name, ctx.run_id, ctx.as_of, datetime.now(UTC)))
                return fn(c, ctx)
            return timed
        monkeypatch.setattr(stratify.run.pipeline, "stage_function", stage_function)
        result = quiet_run(cfg, as_of)
        monkeypatch.undo()
    assert result["status"] == "published", result
    assert datetime.now(london).utcoffset() is not None
    assert seen[-1][3] >= end.astimezone(UTC) - timedelta(minutes=1)  # publish ran after 02:00
    assert {s[1] for s in seen} == {result["run_id"]} and {s[2] for s in seen} == {as_of}
    assert result["run_id"].startswith("20261024T")
    manifest = json.loads((cfg.out / "latest" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["as_of"] == "2026-10-24" and manifest["run_id"] == result["run_id"]
    assert os.readlink(cfg.out / "latest") == os.path.join("runs", result["run_id"])
    runs = run_status(cfg)
    assert [r[1] for r in runs if r[0] == result["run_id"]] == [as_of]
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        started, finished = con.execute("SELECT epoch_us(started_at), epoch_us(finished_at) FROM runs WHERE run_id = $1",
                                        [result["run_id"]]).fetchall()[0]
        dated = con.execute("SELECT DISTINCT p.run_id FROM publications p JOIN runs r USING (run_id) "
                            "WHERE r.as_of = $1", [as_of]).fetchall()
    finally:
        con.close()
    assert finished > started  # one UTC clock: the hour that repeats does not run the clock backwards
    assert dated == [(result["run_id"],)]  # published once for the date
    nxt = quiet_run(cfg, as_of + timedelta(days=1))  # the following night, as_of 25 October, follows on
    assert nxt["status"] == "published" and nxt["run_id"].startswith("20261025T")
    dates = [r[1] for r in run_status(cfg)]
    assert dates.count(as_of) == 1 and dates.count(as_of + timedelta(days=1)) == 1, dates  # none twice, none skipped


# --------------------------------------------------------------------------- h. a delivery arrives during discovery


def test_h_delivery_arriving_during_discovery_is_left_whole_for_the_next_run(place, clean_night2, monkeypatch):
    """Real writes, at a chosen moment: a file appears while discovery hashes another, and one grows meanwhile."""
    import stratify.ingest.discover

    cfg = place
    before = published_tree(cfg)
    night2 = cfg.path.parent / "night2" / f"police_{NIGHT2:%Y%m%d}.parquet"
    whole = night2.read_bytes()
    early = cfg.landing / "police" / night2.name
    early.write_bytes(whole[: len(whole) // 2])  # half of it has arrived when discovery starts
    appearing = cfg.landing / "social_care" / f"social_care_{NIGHT2:%Y%m%d}_7.parquet"
    real_sha = stratify.ingest.discover.sha256_file
    done = []

    def sha_while_writing(path):
        digest = real_sha(path)
        if not done:  # the sender goes on writing just after discovery read the file
            done.append(path)
            with open(early, "ab") as fh:
                fh.write(whole[len(whole) // 2:])
            shutil.copyfile(cfg.archive / "social_care" / f"social_care_{NIGHT1:%Y%m%d}.parquet", appearing)
        return digest
    monkeypatch.setattr(stratify.ingest.discover, "sha256_file", sha_while_writing)
    first = quiet_run(cfg, NIGHT2)
    monkeypatch.undo()
    assert done == [early]
    assert first["stages"]["discover"]["pending"] == 0, first["stages"]["discover"]
    assert early.read_bytes() == whole and appearing.is_file()  # both left in landing, whole
    assert published_tree(cfg) != before  # the night published without them
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        seen = con.execute("SELECT count(*) FROM deliveries WHERE run_id = $1", [first["run_id"]]).fetchall()[0][0]
    finally:
        con.close()
    assert seen == 0
    second = quiet_run(cfg, NIGHT2 + timedelta(days=1))
    d = second["stages"]["discover"]
    assert d["pending"] == 1 and d["duplicate"] == 1, d  # police loaded whole; social care was NIGHT1's again
    assert raw_state(cfg)["raw_events"] == clean_night2["raw"]["raw_events"]
