"""Fixtures of the fault suite: one small published place, copied afresh for each fault.

`published_place` builds once per session a 300-person synthetic place with
one published night (NIGHT1), and beside it (outside landing) two deliveries
for the next night (NIGHT2). `place` copies that folder for one test, so a
fault can break anything in it. `clean_night2` is the reference: the copy
that simply ran NIGHT2 with no fault, against which "nothing was lost" is
checked (raw tables, lists, the published run).

The place trains no wobbling model (six months of history is too little), so
a run takes seconds; the faults are about the pipeline, not the model.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from helpers import raw_state  # noqa: F401  (tests/helpers.py: one copy for both suites)
from stratify.config import PlaceConfig, load_config

NIGHT1 = date(2026, 11, 20)
NIGHT2 = date(2026, 11, 21)
YAML = ("place: faults\nlanding: landing\nwarehouse: wh/wh.duckdb\nout: out\n"
        "neighbourhoods: neighbourhoods.csv\ncapacity:\n  default: 10\nmodel:\n  history_months: 6\n")
HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]


def quiet_run(cfg: PlaceConfig, as_of: date) -> dict:
    """`run_pipeline` with one OpenMP thread and no settle pause at discovery (nothing is being written)."""
    from threadpoolctl import threadpool_limits

    import stratify.ingest.discover
    from stratify.run.pipeline import run_pipeline

    real = stratify.ingest.discover.discover_deliveries
    stratify.ingest.discover.discover_deliveries = lambda c, x: real(c, x, settle_seconds=0)
    try:
        with threadpool_limits(1):
            return run_pipeline(cfg, as_of)
    finally:
        stratify.ingest.discover.discover_deliveries = real


@pytest.fixture(scope="session")
def published_place(tmp_path_factory) -> Path:
    from stratify.synth.generate import synthesize

    root = tmp_path_factory.mktemp("fault_place")
    (root / "place.yaml").write_text(YAML, encoding="utf-8")
    cfg = load_config(root / "place.yaml")
    synthesize(cfg, people=300, as_of=NIGHT1, years=1, seed=11)
    for extra in cfg.landing.glob("*/*_2.parquet"):  # the generator's corrections: fewer files, a faster night
        extra.unlink()
    result = quiet_run(cfg, NIGHT1)
    assert result["status"] == "published", result
    night2 = root / "night2"
    night2.mkdir()
    stamp = f"{NIGHT2:%Y%m%d}"
    for source in ("police",):
        table = pq.read_table(next((cfg.archive / source).glob(f"{source}_{NIGHT1:%Y%m%d}.parquet")))
        table = table.slice(0, 40)
        ids = [f"{r}-N2" for r in table.column("record_id").to_pylist()]
        table = table.set_column(table.schema.get_field_index("record_id"), "record_id",
                                 __import__("pyarrow").array(ids))
        pq.write_table(table, night2 / f"{source}_{stamp}.parquet")
    return root


def copy_place(src: Path, dst: Path) -> PlaceConfig:
    shutil.copytree(src, dst, symlinks=True)
    return load_config(dst / "place.yaml")


def deliver_night2(cfg: PlaceConfig) -> list[str]:
    """Drop NIGHT2's deliveries into landing (as the agencies would)."""
    names = []
    for f in sorted((cfg.path.parent / "night2").glob("*.parquet")):
        source = f.name.rsplit("_", 1)[0]
        shutil.copyfile(f, cfg.landing / source / f.name)
        names.append(f.name)
    return names


@pytest.fixture
def place(published_place, tmp_path) -> PlaceConfig:
    """A fresh copy of the published place, for one test to break."""
    return copy_place(published_place, tmp_path / "place")


@pytest.fixture(scope="session")
def clean_night2(published_place, tmp_path_factory) -> dict:
    """The reference: NIGHT2 run with no fault (raw tables, lists without run-specific columns)."""
    cfg = copy_place(published_place, tmp_path_factory.mktemp("clean") / "place")
    deliver_night2(cfg)
    result = quiet_run(cfg, NIGHT2)
    assert result["status"] == "published", result
    return {"cfg": cfg, "raw": raw_state(cfg), "lists": lists_state(cfg), "result": result}


def lists_state(cfg: PlaceConfig, with_change: bool = True) -> dict[str, str]:
    """Each published list's content (sha256), `change` column optionally left out."""
    import pandas as pd

    out = {}
    for p in sorted((cfg.out / "latest" / "lists").glob("*.csv")):
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
        if not with_change:
            df = df.drop(columns=["change"])
        out[p.name] = hashlib.sha256(df.to_csv(index=False).encode()).hexdigest()
    return out


def published_tree(cfg: PlaceConfig) -> dict[str, str]:
    """Where `latest` points and the sha256 of every file under it: what people see."""
    latest = cfg.out / "latest"
    files = {str(p.relative_to(latest.resolve())): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(latest.resolve().rglob("*")) if p.is_file()}
    return {"target": str(latest.readlink()), **files}


def run_status(cfg: PlaceConfig) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        return con.execute("SELECT run_id, as_of, status, message FROM runs ORDER BY started_at").fetchall()
    finally:
        con.close()


def run_killed(cfg: PlaceConfig, as_of: date, point: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`run_pipeline` in a child process that SIGKILLs itself at `point` (see killer.py)."""
    proc = subprocess.run([sys.executable, str(HERE / "killer.py"), str(cfg.path), as_of.isoformat(), point],
                          capture_output=True, text=True, timeout=timeout, cwd=PROJECT)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
    return proc
