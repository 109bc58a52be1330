"""Broken deliveries through the real pipeline: refused with a reason, quarantined, nothing lost or changed.

One small synthetic place is built and run once (2026-11-19, which trains its
first model); that folder is the good state every night below starts from,
as a copy. Tonight (2026-11-20) police and social care deliver a good file
each; a control night runs with only those. Every other night adds broken
files and runs `run_pipeline`, then checks for each file:

- its `deliveries` row: the decision, and a reason naming the file, the rule,
  the column and how many rows broke it, never a delivered value (nor
  anything shaped like a pseudonym), likewise its `validation_results`;
- the file is in `<quarantine>/<source>/` (or `_unrecognised/`), byte for
  byte, beside a `.reason.txt`, and gone from the landing zone;
- the raw tables and the published lists equal the control night's (a new
  run date moves time windows, so "unchanged" means "as if the broken file had
  never arrived"); a refused register holds the night: `latest` stays on the
  last good run;
- no planted value, and nothing shaped like a pseudonym outside the lists,
  appears under `<out>` (validation report, Data Docs, manifest).

The table-driven cases in `broken.CASES` arrive together on one night (as
they would: one bad file among many), which keeps this file near a minute
and a half on two idle cores; each still has its own test and its own
assertions, and the night as a whole must equal the control.

Scoring runs with one OpenMP thread here (`threadpool_limits`): on a loaded
two-core machine scikit-learn's gradient-boosting predictor spins its OpenMP
threads and scoring 1,500 people took 15 s instead of 1.5 s. Same results.
"""

from __future__ import annotations

import hashlib
import re
import resource
import shutil
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from threadpoolctl import threadpool_limits

from broken import CASES, HEX64, STAMP, Case, N, csv_bytes, sparse_after_rows, tail_rows, text_rows, write_csv, write_parquet
from helpers import no_settle_pause, raw_state
from stratify.config import PlaceConfig, load_config
from stratify.ingest.storage import UNRECOGNISED
from stratify.run.context import latest_link
from stratify.run.pipeline import run_pipeline
from stratify.warehouse.database import connect

pytestmark = pytest.mark.slow

FIRST = date(2026, 11, 19)
TONIGHT = date(2026, 11, 20)
TOMORROW = date(2026, 11, 21)
PEOPLE = 1500
SEED = 5
YAML = ("place: broken\nlanding: landing\nwarehouse: wh.duckdb\nout: out\n"
        "neighbourhoods: neighbourhoods.csv\ncapacity:\n  default: 30\n")
GOOD_TONIGHT = (("police", "PBX", 60), ("social_care", "SBX", 40))
DUPLICATE = Case("same good file delivered twice", f"health_{STAMP}_30.parquet", lambda p, g: [],
                 decision="duplicate", reason=("duplicate of delivery", "nothing changed"))


# --------------------------------------------------------------------------- helpers


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def run(cfg: PlaceConfig, as_of: date, settle: bool = False) -> dict:
    """`run_pipeline` with one OpenMP thread (see the module docstring).

    Without discovery's settle pause (`helpers.no_settle_pause`) unless
    `settle`: only the night with a file still being written needs it.
    """
    import sklearn.ensemble  # noqa: F401  (threadpoolctl limits only the thread pools already loaded)

    with threadpool_limits(1, user_api="openmp"):
        if settle:
            return run_pipeline(cfg, as_of)
        with no_settle_pause():
            return run_pipeline(cfg, as_of)


def published_lists(cfg: PlaceConfig) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((latest_link(cfg) / "lists").glob("*.csv"))}


def delivery(cfg: PlaceConfig, run_id: str, file_name: str) -> dict:
    with connect(cfg, read_only=True) as con:
        cur = con.execute("SELECT * EXCLUDE (received_at, loaded_at) FROM deliveries WHERE run_id = $1 AND file_name = $2",
                          [run_id, file_name])
        cols = [d[0] for d in cur.description]
        rows = cur.fetchall()
    assert len(rows) == 1, f"{file_name}: {len(rows)} deliveries rows in run {run_id}"
    return dict(zip(cols, rows[0]))


def validation_details(cfg: PlaceConfig, delivery_id: int) -> list[str]:
    with connect(cfg, read_only=True) as con:
        return [r[0] or "" for r in con.execute(
            "SELECT detail FROM validation_results WHERE delivery_id = $1", [delivery_id]).fetchall()]


def leaks(out: Path, planted: list[str]) -> list[str]:
    """Files under `out` holding a planted value, or (outside the teams' own outputs) anything shaped like a pseudonym."""
    wanted = [v.encode("utf-8") for v in planted if v]
    hex64 = re.compile(rb"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")
    hits = []
    for p in out.rglob("*"):
        if not p.is_file() or p.is_symlink():
            continue
        rel = p.relative_to(out)
        data = p.read_bytes()
        hits += [f"{rel}: a planted value" for v in wanted if v in data]
        team_output = "lists" in rel.parts or "teams" in rel.parts  # a team's own list, workbook and report
        if not team_output and p.name != "manifest.json" and hex64.search(data):  # the manifest holds file sha256s
            hits.append(f"{rel}: a pseudonym-shaped value")
    return hits


def copy_place(base: Path, dest: Path) -> PlaceConfig:
    """A copy of the good place (relative paths in the YAML, relative `latest` link: the copy works as is)."""
    shutil.copytree(base, dest, symlinks=True)
    return load_config(dest / "place.yaml")


@dataclass(frozen=True)
class Night:
    """What a run left behind."""

    cfg: PlaceConfig
    result: dict
    raw: dict[str, tuple]
    lists: dict[str, bytes]
    latest: str


def observe(cfg: PlaceConfig, result: dict) -> Night:
    return Night(cfg, result, raw_state(cfg), published_lists(cfg), latest_link(cfg).readlink().as_posix())


def good_health(cfg: PlaceConfig, n: int = N, prefix: str = "HBX") -> pa.Table:
    """`n` recent rows of the health delivery the place loaded, with fresh record_ids."""
    return tail_rows(cfg.archive / "health" / f"health_{FIRST:%Y%m%d}.parquet", n, prefix)


def assert_value_free(text: str, planted: list[str]) -> None:
    assert not HEX64.search(text), f"a pseudonym-shaped value in: {HEX64.sub('<hex64>', text)}"
    for v in planted:
        assert v not in text, f"a planted value ({len(v)} characters) is in the text"


def assert_refused_and_kept(night: Night, case: Case, digest: str | None, planted: list[str],
                            same_inode: tuple[int, int, int] | None = None) -> dict:
    """The file's deliveries row, reason, validation results and quarantined copy; returns the row.

    The quarantined copy is the delivered file: the same sha256, or for a huge
    file the same (inode, size, mtime), i.e. moved, never rewritten.
    """
    cfg = night.cfg
    row = delivery(cfg, night.result["run_id"], case.file)
    reason = row["reason"] or ""
    assert row["decision"] == case.decision, reason
    if case.decision != "duplicate":  # ingest writes "duplicate of delivery N, ..." without the file name
        assert reason.startswith(f"{case.file}:"), reason
    for fragment in case.reason:
        assert fragment in reason, f"{fragment!r} not in {reason!r}"
    assert_value_free(reason, planted)
    for detail in validation_details(cfg, row["delivery_id"]):
        assert_value_free(detail, planted)
    stored = cfg.quarantine / case.quarantine / case.file
    assert row["stored_path"] == str(stored)
    if digest is not None:
        assert sha256(stored) == digest, "the quarantined file is not the delivered file"
    if same_inode is not None:
        st = stored.stat()
        assert (st.st_ino, st.st_size, st.st_mtime_ns) == same_inode, "the quarantined file is not the delivered file"
    note = (stored.parent / f"{case.file}.reason.txt").read_text(encoding="utf-8")
    assert note.startswith(f"{case.file}\n") and reason in note
    assert not (cfg.landing / case.folder / case.file).exists()
    return row


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """The good place after its first night, plus tonight's two good deliveries waiting in landing."""
    from stratify.synth.generate import synthesize

    folder = tmp_path_factory.mktemp("broken") / "place"
    folder.mkdir()
    (folder / "place.yaml").write_text(YAML, encoding="utf-8")
    cfg = load_config(folder / "place.yaml")
    synthesize(cfg, people=PEOPLE, as_of=FIRST, seed=SEED)
    assert run(cfg, FIRST)["status"] == "published"
    for source, prefix, n in GOOD_TONIGHT:
        rows = tail_rows(cfg.archive / source / f"{source}_{FIRST:%Y%m%d}.parquet", n, prefix)
        write_parquet(cfg.landing / source / f"{source}_{STAMP}.parquet", rows)
    return folder


@pytest.fixture(scope="module")
def control(base, tmp_path_factory) -> Night:
    """Tonight with only the two good deliveries: what every broken night must equal."""
    cfg = copy_place(base, tmp_path_factory.mktemp("control") / "place")
    result = run(cfg, TONIGHT)
    assert result["status"] == "published", result
    assert result["stages"]["load"]["deliveries"] == len(GOOD_TONIGHT)
    return observe(cfg, result)


@dataclass(frozen=True)
class Planted:
    digest: str
    values: list[str]


@pytest.fixture(scope="module")
def broken_night(base, tmp_path_factory) -> tuple[Night, dict[str, Planted]]:
    """Tonight with every case of `broken.CASES`, plus last night's health file delivered again."""
    cfg = copy_place(base, tmp_path_factory.mktemp("broken_night") / "place")
    good = good_health(cfg)
    planted = {}
    for case in CASES:
        path = cfg.landing / case.folder / case.file
        path.parent.mkdir(parents=True, exist_ok=True)
        values = case.build(path, good)
        planted[case.name] = Planted(sha256(path), values)
    again = cfg.landing / "health" / DUPLICATE.file
    shutil.copyfile(cfg.archive / "health" / f"health_{FIRST:%Y%m%d}.parquet", again)
    planted[DUPLICATE.name] = Planted(sha256(again), [])
    return observe(cfg, run(cfg, TONIGHT)), planted


# --------------------------------------------------------------------------- the broken night


@pytest.mark.parametrize("case", [*CASES, DUPLICATE], ids=[c.name for c in (*CASES, DUPLICATE)])
def test_broken_file_is_refused_with_its_reason_and_kept_in_quarantine(case: Case, broken_night):
    night, planted = broken_night
    p = planted[case.name]
    row = assert_refused_and_kept(night, case, p.digest, p.values)
    if case.decision == "duplicate":
        with connect(night.cfg, read_only=True) as con:
            first = con.execute("SELECT delivery_id FROM deliveries WHERE file_name = $1 AND decision = 'accepted'",
                                [f"health_{FIRST:%Y%m%d}.parquet"]).fetchall()
        assert row["reason"] == f"duplicate of delivery {first[0][0]}, nothing changed"


def test_the_broken_night_changes_nothing_but_the_good_deliveries(broken_night, control):
    night, planted = broken_night
    result = night.result
    assert result["status"] == "published", result.get("message")  # 1 of 3 sources refused: under the limit
    assert result["stages"]["load"]["deliveries"] == len(GOOD_TONIGHT)
    assert night.raw == control.raw
    assert night.lists == control.lists
    assert night.latest != control.latest and night.latest.startswith("runs/")
    validated = Counter(c.decision for c in CASES if c.quarantine != UNRECOGNISED)  # the rest stop at discovery
    assert result["stages"]["validate"]["counts"] == {"accepted": len(GOOD_TONIGHT), **validated}
    assert leaks(night.cfg.out, [v for p in planted.values() for v in p.values]) == []
    assert sorted(p.name for p in night.cfg.landing.rglob("*") if p.is_file()) == []  # nothing left behind


# --------------------------------------------------------------------------- nights of their own


def test_csv_with_a_byte_order_mark_and_boundary_dates_is_accepted_as_the_contract_allows(base, control, tmp_path):
    cfg = copy_place(base, tmp_path / "place")
    path = cfg.landing / "health" / f"health_{STAMP}_2.csv"
    good = good_health(cfg)
    rows = text_rows(good)
    rows[0].update(event_date="2000-01-01")  # the first allowed date
    rows[1].update(event_date=TONIGHT.isoformat(), end_date="")  # the delivery date itself
    write_csv(path, rows, good.column_names, bom=True)
    digest = sha256(path)
    night = observe(cfg, run(cfg, TONIGHT))
    row = delivery(cfg, night.result["run_id"], path.name)
    assert row["decision"] == "accepted" and row["rows"] == N, row["reason"]
    assert sha256(cfg.archive / "health" / path.name) == digest
    assert night.raw["raw_register"] == control.raw["raw_register"]
    assert night.raw["raw_events"][0] == control.raw["raw_events"][0] + N
    with connect(cfg, read_only=True) as con:
        ids = con.execute("SELECT count(*) FROM raw_events WHERE delivery_id = $1 AND record_id LIKE 'HBX-%'",
                          [row["delivery_id"]]).fetchall()[0][0]
    assert ids == N  # the first column is record_id, not '\ufeffrecord_id'


def test_refused_register_holds_the_night_and_keeps_the_last_good_lists(base, control, tmp_path):
    cfg = copy_place(base, tmp_path / "place")
    before = observe(cfg, {})
    reg = tail_rows(cfg.archive / "register" / f"register_{FIRST:%Y%m%d}.parquet", 50, "RBX")
    rows = text_rows(reg)
    rows[9]["birth_year_month"] = "1890-01"  # 136 years old at delivery
    case = Case("register", f"register_{STAMP}.csv", lambda p, g: [], folder="register", quarantine="register",
                reason=("birth_year_month", "age of 0 to 115", "1 of 50 rows", "data row 10"))
    path = write_csv(cfg.landing / "register" / case.file, rows, reg.column_names)
    digest = sha256(path)
    night = observe(cfg, run(cfg, TONIGHT))
    assert night.result["status"] == "held", night.result
    assert "register" in night.result["message"]
    assert_refused_and_kept(night, case, digest, ["1890-01"])
    assert night.latest == before.latest and night.lists == before.lists  # the last good lists stay published
    with connect(cfg, read_only=True) as con:
        status = con.execute("SELECT status, message FROM runs WHERE run_id = $1", [night.result["run_id"]]).fetchall()
    assert status[0][0] == "held" and "register" in status[0][1]
    assert night.raw == control.raw  # the good event deliveries still load; the register is untouched
    assert leaks(cfg.out, ["1890-01"]) == []


def test_a_2_gb_file_is_refused_without_being_read_into_memory(base, control, tmp_path):
    cfg = copy_place(base, tmp_path / "place")
    case = Case("2 GB", f"health_{STAMP}_2.csv", sparse_after_rows,
                reason=("NUL byte at offset", f"(line {N + 2})", "of 2147483648 bytes", "not a text CSV file"))
    path = cfg.landing / "health" / case.file
    case.build(path, good_health(cfg))
    st = path.stat()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    night = observe(cfg, run(cfg, TONIGHT))
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    growth_mb = (peak_after - peak_before) / 1024
    print(f"\n2 GB delivery: peak RSS {peak_before / 1024:.0f} MB before the night, {peak_after / 1024:.0f} MB after "
          f"(growth {growth_mb:.0f} MB)")
    try:
        assert_refused_and_kept(night, case, None, [], same_inode=(st.st_ino, st.st_size, st.st_mtime_ns))
        assert growth_mb < 300
        assert night.raw == control.raw and night.lists == control.lists
    finally:
        (cfg.quarantine / "health" / case.file).unlink(missing_ok=True)


def test_a_file_still_being_written_is_left_alone_and_loaded_the_next_night(base, control, tmp_path):
    cfg = copy_place(base, tmp_path / "place")
    good = good_health(cfg, prefix="HFX")
    content = csv_bytes(text_rows(good), good.column_names).encode("utf-8")
    path = cfg.landing / "health" / f"health_{STAMP}_2.csv"
    path.write_bytes(content[:1000])
    stop = threading.Event()

    def keep_writing():
        """Append a few bytes every 50 ms until told to stop, then the rest: the file grows across discovery."""
        written = 1000
        with open(path, "ab") as fh:
            while not stop.is_set() and written < len(content) - 16:
                fh.write(content[written:written + 16])
                fh.flush()
                written += 16
                time.sleep(0.05)
            fh.write(content[written:])

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        first = run(cfg, TONIGHT, settle=True)  # discovery's real pause: the file grows across it
    finally:
        stop.set()
        writer.join()
    assert first["stages"]["discover"]["in_flight"] == 1
    with connect(cfg, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM deliveries WHERE file_name = $1", [path.name]).fetchall()[0][0] == 0
    assert path.read_bytes() == content  # untouched by the run: the writer's bytes, all of them
    night = observe(cfg, first)
    assert night.raw == control.raw and night.lists == control.lists

    second = run(cfg, TOMORROW)
    row = delivery(cfg, second["run_id"], path.name)
    assert row["decision"] == "accepted" and row["rows"] == N, row["reason"]
    assert not path.exists() and (cfg.archive / "health" / path.name).read_bytes() == content
