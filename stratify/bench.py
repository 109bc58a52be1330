"""The nightly benchmark: a synthetic place of N people, a first load and a typical night, measured per stage.

    stratify bench --people 20000          # or: make bench PEOPLE=20000
    stratify bench --compare               # time per person across bench/results/*.json

Why it exists: "fast enough" is a number per stage that can be compared
across commits and machines, not an impression. What it does:

1. writes a place of N people with `--years` of history (`stratify.synth.generate.synthesize`);
2. first load: every delivery of that history at once (validate, load,
   features, training the first model, scores, lists);
3. a typical night: one day's deliveries of every source on top of that
   history (`stratify.synth.generate.synthesize_day`), as of the next day, so every
   window moves and features and scores are recomputed for everyone.

Each stage runs in a process of its own, as each Airflow task does, and is
measured from outside: wall time of the stage function (its module is
imported first, so imports count as start-up), CPU seconds, and the
process's peak resident memory (`ru_maxrss` of that process from `wait4`:
the true peak while the stage ran, not a sample). The process start-up and
imports are reported apart (`startup_s`), and so is Airflow's own start-up
per task (`airflow.task_startup_s`: importing `airflow.sdk` and parsing the
DAG file in a fresh process).

Floors, the least work any pipeline must do: `first_load.floor_s` is DuckDB
reading every delivered file once with every column (each value hashed, so
no column can be skipped); `night.floor_s` is DuckDB reading the warehouse's
raw history (`raw_register`, `raw_events`, `raw_outcomes`) once with every
column, after the night; `night.delivered_floor_s` reads the night's files.
Floors use the place's DuckDB `threads` and `memory_limit`, like the stages.
Floors run just before the work they bound, so both see a warm page cache.

Figures go to stdout (beside the issue's targets and the ratio to the floor)
and to `bench/results/<people>.json` (kept out of git).
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from stratify.resources import PROJECT_ROOT
RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
RAW_TABLES = ("raw_register", "raw_events", "raw_outcomes")
ISSUE_STAGES = ("validate", "load", "features", "score", "publish")  # the stages issue 6 asks about

# Issue 6's targets: figures to compare with, never assertions. Keyed by the
# place size they were set for; a run is compared with the smallest size at
# or above its own (else the largest).
TARGETS: dict[int, dict[str, float]] = {
    330_000: {"first_load.total_s": 300, "first_load.floor_ratio": 20,
              "night.total_s": 60, "night.floor_ratio": 10, "night.peak_rss_mb": 4096},
    3_000_000: {"first_load.total_s": 2700, "night.total_s": 600, "night.peak_rss_mb": 16384},
}
LINEAR_GROWTH_LIMIT = 1.5  # time per person at 1M over that at 100k


class BenchError(RuntimeError):
    """A measured step failed; the message names the step and ends with its log's last lines."""


# --------------------------------------------------------------------------- measuring one step


@dataclass
class Measured:
    """One step run in its own process, measured from outside."""

    seconds: float  # the step itself, timed inside the process after its imports
    wall_s: float  # the whole process: start-up, imports, the step
    cpu_s: float  # user + system CPU of the process
    peak_rss_mb: float  # the process's peak resident set size
    result: Any = None

    def figures(self) -> dict[str, float]:
        return {"seconds": round(self.seconds, 3), "wall_s": round(self.wall_s, 3),
                "startup_s": round(max(self.wall_s - self.seconds, 0.0), 3),
                "cpu_s": round(self.cpu_s, 3), "peak_rss_mb": round(self.peak_rss_mb)}


def _maxrss_mb(ru_maxrss: int) -> float:
    """`ru_maxrss` in MB: kilobytes on Linux, bytes on macOS."""
    return ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else ru_maxrss / 1024


def run_step(op: dict[str, Any], work: Path, env: dict[str, str] | None = None) -> Measured:
    """Run one step (`child_main`) in a fresh process; its peak memory comes from `wait4`, exactly.

    `posix_spawn` + `wait4` rather than `subprocess`, because `wait4` hands
    back that one child's resource usage (peak RSS, CPU), which `subprocess`
    does not expose.
    """
    steps = work / "steps"
    steps.mkdir(parents=True, exist_ok=True)
    tag = f"{len(list(steps.glob('*.json'))):03d}-{op['op']}-{op.get('stage', '')}".rstrip("-")
    spec, result, log = steps / f"{tag}.json", steps / f"{tag}.result.json", work / "bench.log"
    spec.write_text(json.dumps(op, default=str), encoding="utf-8")
    actions = [(os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640),
               (os.POSIX_SPAWN_DUP2, 1, 2)]
    t0 = time.perf_counter()
    pid = os.posix_spawn(sys.executable, [sys.executable, "-m", "stratify.bench", "--child", str(spec), str(result)],
                         {**os.environ, **(env or {})}, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    out = json.loads(result.read_text(encoding="utf-8")) if result.exists() else {}
    code = os.waitstatus_to_exitcode(status)
    if code != 0 or "error" in out:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]) if log.exists() else ""
        raise BenchError(f"{tag} failed (exit {code}): {out.get('error', 'no result written')}\n{tail}")
    return Measured(out["seconds"], wall, usage.ru_utime + usage.ru_stime, _maxrss_mb(usage.ru_maxrss),
                    out.get("result"))


def child_main(spec_path: str, result_path: str) -> int:
    """Inside the step's process: import what the step needs, then time only the step."""
    op = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    try:
        step = _prepare(op)
        t0 = time.perf_counter()
        result = step()
        out = {"seconds": time.perf_counter() - t0, "result": result}
    except Exception as exc:  # reported by the parent, with the log's tail
        out = {"error": f"{type(exc).__name__}: {exc}"}
    Path(result_path).write_text(json.dumps(out, default=str), encoding="utf-8")
    return 1 if "error" in out else 0


def _prepare(op: dict[str, Any]):
    """The step as a no-argument callable, with its imports already done (they are start-up, not work)."""
    kind = op["op"]
    if kind == "airflow_startup":
        return lambda: _airflow_startup(Path(op["dag_file"]))
    from stratify.config import load_config

    cfg = load_config(op["config"])
    if kind == "synth":
        from stratify.synth.generate import synthesize

        return lambda: {"files": list(synthesize(cfg, people=op["people"], as_of=date.fromisoformat(op["as_of"]),
                                                 years=op["years"], seed=op["seed"]).files)}
    if kind == "synth_day":
        from stratify.synth.generate import synthesize_day

        return lambda: {"files": synthesize_day(cfg, date.fromisoformat(op["day"]), seed=op["seed"])}
    if kind == "floor_files":
        return lambda: read_files_floor(cfg, [Path(p) for p in op["files"]])
    if kind == "floor_warehouse":
        return lambda: read_warehouse_floor(cfg)
    from stratify.run.context import RunContext

    if kind == "start":
        from stratify.run.audit import start_run

        return lambda: start_run(cfg, date.fromisoformat(op["as_of"]), run_id=op["run_id"]).to_dict()
    ctx = RunContext.from_dict(op["ctx"])
    if kind == "finish":
        from stratify.run.audit import finish_run

        return lambda: finish_run(cfg, ctx, op["status"], op.get("message", ""))
    if kind == "stage":
        from stratify.run.pipeline import stage_function
        from stratify.publish.stage import PublishHeld

        function = stage_function(op["stage"])

        def stage() -> dict:
            try:
                return {"summary": function(cfg, ctx)}
            except PublishHeld as exc:  # not an error: the run is held, nothing published
                return {"held": str(exc)}

        return stage
    raise ValueError(f"bench: unknown step {kind!r}")


def _airflow_startup(dag_file: Path) -> dict:
    """What an Airflow task process pays before its stage: import the SDK, parse the DAG file."""
    import airflow.sdk  # noqa: F401

    runpy.run_path(str(dag_file))
    return {}


# --------------------------------------------------------------------------- floors


def _duckdb(cfg):
    """An in-memory DuckDB with the place's resource settings, so floors and stages are compared like for like."""
    import duckdb

    return duckdb.connect(config={"threads": cfg.duckdb.threads, "memory_limit": cfg.duckdb.memory_limit})


def read_files_floor(cfg, files: list[Path]) -> dict:
    """Read every file once with every column (each value hashed, so nothing can be skipped)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for f in files:
        groups.setdefault((f.parent.name, f.suffix.lower()), []).append(str(f))
    rows, con = 0, _duckdb(cfg)
    try:
        for (_, suffix), paths in sorted(groups.items()):
            reader = ("read_parquet($files, union_by_name = true)" if suffix == ".parquet"
                      else "read_csv($files, header = true, all_varchar = true, union_by_name = true)")
            rows += con.execute(f"SELECT count(*), bit_xor(hash(COLUMNS(*))) FROM {reader}",
                                {"files": paths}).fetchall()[0][0]
    finally:
        con.close()
    return {"files": len(files), "rows": rows, "bytes": sum(f.stat().st_size for f in files)}


def read_warehouse_floor(cfg) -> dict:
    """Read the warehouse's raw history once with every column, from a read-only connection."""
    from stratify.warehouse.connect import connect
    from stratify.warehouse.identifiers import render_identifier

    rows = {}
    with connect(cfg, read_only=True) as con:
        for table in RAW_TABLES:
            name = render_identifier(table, frozenset(RAW_TABLES))
            rows[table] = con.execute(f"SELECT count(*), bit_xor(hash(COLUMNS(*))) FROM {name}").fetchall()[0][0]
    return {"rows": rows}


def landing_files(cfg) -> list[Path]:
    """Every delivery file now in the landing folder."""
    return sorted(p for p in cfg.landing.rglob("*") if p.is_file() and not p.name.startswith("."))


# --------------------------------------------------------------------------- one pipeline run


@dataclass
class Phase:
    """A pipeline run measured stage by stage."""

    status: str = "running"
    message: str = ""
    steps: dict[str, Measured] = field(default_factory=dict)

    def training_s(self) -> float:
        """Seconds the score stage spent training a first model (as it records them), 0 when none was trained."""
        score = self.steps.get("score")
        summary = (score.result or {}).get("summary") if score is not None else None
        return float((summary or {}).get("training_s") or 0.0)

    def figures(self) -> dict[str, Any]:
        stages = {k: v for k, v in self.steps.items() if k not in ("start_run", "finish_run")}
        total = sum(m.seconds for m in self.steps.values())
        wall = sum(m.wall_s for m in self.steps.values())
        return {
            "status": self.status,
            "message": self.message,
            "total_s": round(total, 2),
            "training_s": round(self.training_s(), 2),
            "wall_s": round(wall, 2),
            "startup_s": round(wall - total, 2),
            "cpu_s": round(sum(m.cpu_s for m in self.steps.values()), 2),
            "peak_rss_mb": round(max((m.peak_rss_mb for m in self.steps.values()), default=0)),
            "stages_s": {k: round(m.seconds, 3) for k, m in stages.items()},
            "stages": {k: m.figures() for k, m in self.steps.items()},
        }


def run_phase(config: Path, as_of: date, run_id: str, work: Path) -> Phase:
    """Open a run, run every stage in its own process, close the run: as the DAG does, task by task."""
    from stratify.run.pipeline import STAGES

    phase = Phase()
    start = run_step({"op": "start", "config": str(config), "as_of": as_of.isoformat(), "run_id": run_id}, work)
    phase.steps["start_run"], ctx = start, start.result
    failed = ""
    for name, _ in STAGES:
        try:
            m = run_step({"op": "stage", "config": str(config), "ctx": ctx, "stage": name}, work)
        except BenchError as exc:
            phase.status, phase.message, failed = "failed", str(exc).splitlines()[0], name
            break
        phase.steps[name] = m
        if "held" in m.result:
            phase.status, phase.message = "held", m.result["held"]
            break
    status = phase.status if phase.status in ("held", "failed") else "published"
    phase.steps["finish_run"] = run_step({"op": "finish", "config": str(config), "ctx": ctx, "status": status,
                                          "message": phase.message}, work)
    phase.status = status
    if failed:
        raise BenchError(f"run {run_id}: stage {failed} failed: {phase.message}")
    return phase


# --------------------------------------------------------------------------- the benchmark


def write_place(folder: Path, extra: str = "") -> Path:
    """The benchmark's place configuration: defaults everywhere else, like a new place (`extra`: tests only)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "place.yaml"
    path.write_text("place: bench\nlanding: landing\nwarehouse: bench.duckdb\nout: out\n"
                    "neighbourhoods: neighbourhoods.csv\ncapacity:\n  default: 50\n" + extra, encoding="utf-8")
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


# --------------------------------------------------------------------------- reporting


def targets_for(people: int) -> tuple[int, dict[str, float]]:
    """The issue's targets for the nearest place size at or above `people` (else the largest)."""
    size = min((s for s in TARGETS if s >= people), default=max(TARGETS))
    return size, TARGETS[size]


def report(figures: dict[str, Any]) -> str:
    """The figures as a table, each phase beside its targets and its ratio to the floor."""
    size, targets = targets_for(figures["people"])
    lines = [f"stratify bench: {figures['people']:,} people, {figures['years']} years, as of {figures['as_of']} "
             f"(night {figures['night_as_of']}), commit {figures.get('commit')}, "
             f"{figures['machine']['cpus']} CPUs, DuckDB threads {figures['duckdb']['threads']} "
             f"memory_limit {figures['duckdb']['memory_limit']}"]
    header = f"{'phase':<11} {'stage':<10} {'seconds':>9} {'cpu s':>8} {'peak MB':>8} {'start-up s':>10}"
    lines += ["", header, "-" * len(header)]
    for phase in ("first_load", "night"):
        if phase not in figures:
            continue
        for stage, f in figures[phase]["stages"].items():
            mark = "*" if stage in ISSUE_STAGES else " "
            lines.append(f"{phase:<11} {stage:<9}{mark} {f['seconds']:>9.2f} {f['cpu_s']:>8.1f} "
                         f"{f['peak_rss_mb']:>8,} {f['startup_s']:>10.2f}")
        f = figures[phase]
        lines.append(f"{phase:<11} {'TOTAL':<10} {f['total_s']:>9.2f} {f['cpu_s']:>8.1f} {f['peak_rss_mb']:>8,} "
                     f"{f['startup_s']:>10.2f}   ({f['status']})")
        lines.append("")
    lines.append(f"targets for {size:,} people (issue 6; figures, not assertions):")
    for phase in ("first_load", "night"):
        if phase not in figures:
            continue
        f = figures[phase]
        floor_what = "every delivered file" if phase == "first_load" else "the warehouse's raw history"
        ratio = f.get("floor_ratio")
        training = f.get("training_s") or 0.0
        without = (f", {f.get('floor_ratio_without_training')}x without training ({training:.1f} s)"
                   if training else "")
        parts = [f"{phase}: {f['total_s']:.1f} s" + _vs(targets.get(f"{phase}.total_s"), f["total_s"], "s"),
                 f"floor ({floor_what}, read once) {f['floor_s']:.2f} s, ratio {ratio}x"
                 + _vs(targets.get(f"{phase}.floor_ratio"), ratio, "x") + without,
                 f"peak {f['peak_rss_mb']:,} MB" + _vs(targets.get(f"{phase}.peak_rss_mb"), f["peak_rss_mb"], "MB")]
        lines.append("  " + "; ".join(parts))
    if "night" in figures:
        lines.append(f"  night's own files read once: {figures['night']['delivered_floor_s']:.2f} s")
    if "airflow" in figures:
        a = figures["airflow"]
        lines.append(f"  Airflow's own start-up per task (not in the totals): {a['task_startup_s']:.2f} s "
                     f"(import airflow.sdk + parse the DAG file), {a['peak_rss_mb']:,} MB")
    lines.append("  * the stages issue 6 names; start-up = process start and imports, not in `seconds`")
    return "\n".join(lines)


def _vs(target: float | None, value: float | None, unit: str) -> str:
    if target is None or value is None:
        return ""
    return f" (target < {target:,.0f} {unit}: {'met' if value < target else 'NOT met'})"


def compare(results_dir: Path = RESULTS_DIR) -> str:
    """Time per person for every bench/results/<people>.json, and growth against the smallest place."""
    rows = []
    for path in sorted(results_dir.glob("*.json"), key=lambda p: (len(p.stem), p.stem)):
        if not path.stem.isdigit():
            continue
        f = json.loads(path.read_text(encoding="utf-8"))
        if "first_load" in f and "night" in f and "total_s" in f["night"]:
            rows.append((f["people"], f["first_load"]["total_s"], f["night"]["total_s"], f.get("commit")))
    if not rows:
        return f"no results in {results_dir}: run `stratify bench --people N` first"
    base_people, base_first, base_night, _ = rows[0]
    lines = [f"{'people':>10} {'first load µs/person':>21} {'x':>5} {'night µs/person':>16} {'x':>5}  commit"]
    for people, first, night, commit in rows:
        fp, np_ = first / people * 1e6, night / people * 1e6
        lines.append(f"{people:>10,} {fp:>21.1f} {fp / (base_first / base_people * 1e6):>5.2f} "
                     f"{np_:>16.1f} {np_ / (base_night / base_people * 1e6):>5.2f}  {commit}")
    lines.append(f"x = time per person over that of {base_people:,} people; "
                 f"target: 1,000,000 no more than {LINEAR_GROWTH_LIMIT}x 100,000")
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `stratify bench` and `bench/bench_nightly.py`."""
    p.add_argument("--people", type=int, default=20_000, help="people in the synthetic place (default 20,000)")
    p.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 20),
                   help="the history's last day; the night is the day after")
    p.add_argument("--years", type=int, default=3, help="years of history (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=None, help="where to build the place (default bench/results/place-N)")
    p.add_argument("--keep", action="store_true", help="keep the generated place afterwards")
    p.add_argument("--compare", action="store_true", help="only compare time per person across bench/results/")


def run_from_args(args: argparse.Namespace) -> int:
    """Run the benchmark (or the comparison) and print the report."""
    if args.compare:
        print(compare())
        return 0
    if args.people < 100:
        raise ValueError("bench: --people must be at least 100")
    try:
        figures = run_bench(args.people, args.as_of, args.years, args.seed, args.work, args.keep)
    except BenchError as exc:
        print(f"stratify bench: {exc}", file=sys.stderr)
        return 1
    print(report(figures))
    print(f"\nfigures: {figures['results_file']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1], argv[2])
    p = argparse.ArgumentParser(prog="stratify bench", description=__doc__.splitlines()[0])
    add_arguments(p)
    return run_from_args(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
