"""The benchmark itself: generate a place, first-load it, deliver one day, run the night, write the figures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from stratify.bench.floors import landing_files
from stratify.bench.measure import BenchError, run_command, run_step
from stratify.bench.phase import run_phase
from stratify.resources import CHECKOUT_ROOT, PROJECT_ROOT

# bench/results/ of the checkout; an installed stratify writes them under the current folder.
RESULTS_DIR = (CHECKOUT_ROOT or Path.cwd()) / "bench" / "results"


# The four example priorities of docs/costs.md (a domain, age and events in all history, age and events in a
# window, a household criterion), so the costs stage is measured with a priority of every kind to evaluate.
PRIORITIES = """priorities:
  - {id: homelessness, name: Homelessness, cohort: {domains: {names: [homelessness], window_days: 365}}}
  - id: care_leavers
    name: Transition to adulthood for care leavers
    cohort:
      age: {min: 16, max: 25}
      events: [{types: [care_leaver, looked_after_start, looked_after_end]}]
  - id: frail_elderly
    name: Frail elderly
    cohort:
      age: {min: 75}
      events: [{types: [emergency_admission, adult_care_package_start, adult_assessment], window_days: 365}]
  - id: families
    name: Children whose parent is struggling
    cohort: {household: {with_children: true, others_with_domains: 1}}
"""


def write_place(folder: Path, extra: str = "") -> Path:
    """The benchmark's place configuration: defaults everywhere else, like a new place, with the example priorities.

    `extra`: more YAML (tests only).
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "place.yaml"
    path.write_text("place: bench\nlanding: landing\nwarehouse: bench.duckdb\nout: out\n"
                    "neighbourhoods: neighbourhoods.csv\ncapacity:\n  default: 50\n" + PRIORITIES + extra,
                    encoding="utf-8")
    return path


def _commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _machine() -> dict[str, Any]:
    mem = None
    try:
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {"cpus": os.cpu_count(), "memory_gb": mem, "python": sys.version.split()[0],
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def run_bench(people: int, as_of: date, years: int = 3, seed: int = 0, work: Path | None = None,
              keep: bool = False, results_dir: Path = RESULTS_DIR, place_extra: str = "") -> dict[str, Any]:
    """Generate, first-load, deliver one day, run the night; return the figures and write them as JSON.

    `place_extra` adds YAML to the place configuration (tests use a short
    training history); the figures record it, since it changes what is timed.
    """
    from stratify.config import load_config

    work = Path(work or results_dir / f"place-{people}").resolve()
    shutil.rmtree(work, ignore_errors=True)
    config = write_place(work, place_extra)
    cfg = load_config(config)
    night = as_of + timedelta(days=1)
    figures: dict[str, Any] = {
        "people": people, "years": years, "seed": seed, "as_of": as_of.isoformat(), "night_as_of": night.isoformat(),
        "commit": _commit(), "machine": _machine(),
        "duckdb": {"threads": cfg.duckdb.threads, "memory_limit": cfg.duckdb.memory_limit},
        "place_extra": place_extra or None,
    }
    out = Path(results_dir) / f"{people}.json"
    try:
        base = {"config": str(config), "seed": seed}
        synth = run_step({**base, "op": "synth", "people": people, "as_of": as_of.isoformat(), "years": years}, work)
        figures["synth"] = {**synth.figures(), "files": len(synth.result["files"]),
                            "rows": sum(r for _, r in synth.result["files"])}
        floor = run_step({**base, "op": "floor_files", "files": [str(p) for p in landing_files(cfg)]}, work)
        first = run_phase(config, as_of, f"{as_of:%Y%m%d}-bench-first", work)
        figures["first_load"] = {**first.figures(), "floor_s": round(floor.seconds, 3),
                                 "floor": {**floor.result, **floor.figures()}}
        day = run_step({**base, "op": "synth_day", "day": night.isoformat()}, work)
        figures["night_deliveries"] = {name: rows for name, rows in day.result["files"]}
        delivered = run_step({**base, "op": "floor_files", "files": [str(p) for p in landing_files(cfg)]}, work)
        tonight = run_phase(config, night, f"{night:%Y%m%d}-bench-night", work)
        history = run_step({**base, "op": "floor_warehouse"}, work)
        figures["night"] = {**tonight.figures(), "floor_s": round(history.seconds, 3),
                            "floor": {**history.result, **history.figures()},
                            "delivered_floor_s": round(delivered.seconds, 3)}
        figures["baseline"] = measure_baseline(config, night, work)
        dag_file = PROJECT_ROOT / "dags" / "nightly_stratification.py"
        airflow = run_step({"op": "airflow_startup", "dag_file": str(dag_file)}, work, env=_airflow_env(work))
        figures["airflow"] = {"task_startup_s": round(airflow.wall_s, 3), "parse_s": round(airflow.seconds, 3),
                              "peak_rss_mb": round(airflow.peak_rss_mb)}
    except BenchError as exc:
        figures["error"] = str(exc)
        raise
    finally:
        figures["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        for key in ("first_load", "night"):
            if key in figures and figures[key].get("floor_s"):
                add_floor_ratios(figures[key])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2), encoding="utf-8")
        figures["results_file"] = str(out)
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return figures


def measure_baseline(config: Path, as_of: date, work: Path) -> dict[str, Any]:
    """`stratify baseline --config ... --as-of ...` on the place as it stands, timed as its user waits for it.

    The whole command in a fresh process (start-up, imports, the three years'
    figures, the page): wall seconds and the process's peak memory.
    """
    out = work / "baseline"
    m = run_command(["baseline", "--config", str(config), "--as-of", as_of.isoformat(), "--out", str(out)], work)
    return {"as_of": as_of.isoformat(), "wall_s": round(m.wall_s, 3), "cpu_s": round(m.cpu_s, 3),
            "peak_rss_mb": round(m.peak_rss_mb), "files": sorted(p.name for p in out.iterdir())}


def rerun_baseline(people: int, work: Path, night: date, results_dir: Path = RESULTS_DIR) -> dict[str, Any]:
    """Measure the baseline again on a place kept by `stratify bench --keep`, into its results file.

    As of `night` (the kept place's night: the day after `--as-of`); the
    rest of `bench/results/<people>.json`, if there is one, is kept.
    """
    work = Path(work).resolve()
    config = work / "place.yaml"
    if not config.is_file():
        raise BenchError(f"{work}: no place.yaml: keep a place with `stratify bench --keep --work {work}` first")
    path = Path(results_dir) / f"{people}.json"
    figures = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"people": people}
    figures["baseline"] = {**measure_baseline(config, night, work), "commit": _commit(), "machine": _machine()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    figures["results_file"] = str(path)
    return figures


def add_floor_ratios(phase: dict[str, Any]) -> None:
    """`floor_ratio` (the whole phase over its floor) and `floor_ratio_without_training`.

    A first load trains the first model inside its score stage, which took
    about 127 of 143 s at 100,000 people: without the second ratio, training
    hides every other stage's distance from the floor.
    """
    phase["floor_ratio"] = round(phase["total_s"] / phase["floor_s"], 1)
    phase["floor_ratio_without_training"] = round((phase["total_s"] - phase.get("training_s", 0.0)) / phase["floor_s"], 1)


def _airflow_env(work: Path) -> dict[str, str]:
    from stratify.airflow.env import airflow_env

    return airflow_env(PROJECT_ROOT, work / "airflow_home")
