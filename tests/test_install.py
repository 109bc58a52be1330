"""An install that works outside the checkout: the wheel carries every file stratify reads.

The wheel is built from this checkout without build isolation (hatchling is in
the test extra), so the test needs no network. The slow test installs it
non-editable into a fresh virtual environment whose other packages come from
the running environment's site-packages (a `.pth` line, so Airflow and the
rest are not reinstalled), and runs `stratify synth` and `stratify run` from a
temporary folder with no checkout in sight.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out), str(PROJECT_ROOT)], check=True, cwd=out)
    (built,) = out.glob("stratify-*.whl")
    return built


def _shipped(folder: Path, pattern: str = "*") -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob(pattern) if p.is_file() and "__pycache__" not in p.parts}


def test_the_wheel_carries_every_data_file_and_module(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    package = PROJECT_ROOT / "stratify"
    expected = {f"stratify/{n}" for n in _shipped(package) if not n.endswith(".pyc")}
    for top in ("features", "expectations", "warehouse"):
        expected |= {f"stratify/_bundled/{top}/{n}" for n in _shipped(PROJECT_ROOT / top)}
    assert expected - names == set()
    assert "stratify/sql/unexpected_rows/expect_column_values_to_be_in_set.sql" in names
    assert {n for n in names if n.startswith("stratify/_bundled/warehouse/")}, "no DDL in the wheel"


def _fresh_venv(root: Path, wheel: Path) -> Path:
    """A new virtual environment with the wheel installed (not editable); returns its bin folder."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # The running environment's packages (Airflow, DuckDB, ...) behind the new venv's own.
    # A plain path line: the .pth files in that folder (the checkout's editable finder) are not run.
    (Path(purelib) / "running-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    str(wheel)], check=True)
    return venv / "bin"


@pytest.mark.slow
def test_synth_and_run_from_a_folder_outside_the_checkout(wheel: Path, tmp_path: Path):
    bin_dir = _fresh_venv(tmp_path, wheel)
    place = tmp_path / "place"
    place.mkdir()
    (place / "place.yaml").write_text("place: installed\nlanding: landing\nwarehouse: wh.duckdb\nout: out\n"
                                      "neighbourhoods: neighbourhoods.csv\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "STRATIFY_CONFIG")}
    env["HOME"] = str(tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), cwd=place, env=env, capture_output=True, text=True, timeout=600)

    where = run(str(bin_dir / "python"), "-c",
                "import stratify, stratify.resources as r; print(stratify.__file__); print(r.DDL_DIR); print(r.CHECKOUT_ROOT)")
    assert where.returncode == 0, where.stderr
    module, ddl, checkout = where.stdout.split()
    assert Path(module).is_relative_to(tmp_path / "venv"), module
    assert Path(ddl) == Path(module).parent / "_bundled" / "warehouse"
    assert checkout == "None"

    synth = run(str(bin_dir / "stratify"), "synth", "--config", "place.yaml", "--people", "1500",
                "--as-of", "2026-11-20")
    assert synth.returncode == 0, synth.stdout + synth.stderr
    night = run(str(bin_dir / "stratify"), "run", "--config", "place.yaml", "--as-of", "2026-11-20")
    assert night.returncode == 0, night.stdout[-3000:] + night.stderr[-3000:]

    status = json.loads((place / "out" / "status.json").read_text(encoding="utf-8"))
    assert status["status"] == "published", status
    lists = sorted((place / "out" / "latest" / "lists").glob("*.csv"))
    assert lists, "no list published"
    rows = [line for p in lists for line in p.read_text(encoding="utf-8").splitlines()[1:]]
    assert rows and all(p.read_text(encoding="utf-8").startswith("rank,person_id,") for p in lists)
    manifest = json.loads((place / "out" / "latest" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["run_id"] == status["run_id"]
