"""One measured step: a fresh process per step, its wall time, CPU and exact peak memory."""

from __future__ import annotations

import json
import os
import runpy
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from stratify.bench.floors import read_files_floor, read_warehouse_floor


class BenchError(RuntimeError):
    """A measured step failed; the message names the step and ends with its log's last lines."""


@dataclass
class Measured:
    """One step run in its own process, measured from outside."""

    seconds: float  # the step itself, timed inside the process after its imports
    wall_s: float  # the whole process: start-up, imports, the step
    cpu_s: float  # user + system CPU of the process
    peak_rss_mb: float  # the process's peak resident set size
    result: Any = None
    costs_parts: dict[str, float] = field(default_factory=dict)  # stratify.costs.timing, inside the step

    def figures(self) -> dict[str, Any]:
        out: dict[str, Any] = {"seconds": round(self.seconds, 3), "wall_s": round(self.wall_s, 3),
                               "startup_s": round(max(self.wall_s - self.seconds, 0.0), 3),
                               "cpu_s": round(self.cpu_s, 3), "peak_rss_mb": round(self.peak_rss_mb)}
        if self.costs_parts:
            out["costs_parts_s"] = {k: round(v, 3) for k, v in sorted(self.costs_parts.items())}
        return out


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
    spec, result = steps / f"{tag}.json", steps / f"{tag}.result.json"
    spec.write_text(json.dumps(op, default=str), encoding="utf-8")
    code, wall, usage = _spawn([sys.executable, "-m", "stratify.bench", "--child", str(spec), str(result)], work, env)
    out = json.loads(result.read_text(encoding="utf-8")) if result.exists() else {}
    if code != 0 or "error" in out:
        raise BenchError(f"{tag} failed (exit {code}): {out.get('error', 'no result written')}\n{_log_tail(work)}")
    return Measured(out["seconds"], wall, usage.ru_utime + usage.ru_stime, _maxrss_mb(usage.ru_maxrss),
                    out.get("result"), out.get("costs_parts") or {})


def run_command(args: list[str], work: Path, env: dict[str, str] | None = None) -> Measured:
    """Run a `stratify` command (`python -m stratify.cli ARGS`) as a user would, measured from outside.

    `seconds` is the whole process's wall time (start-up and imports
    included: what the user waits for), so `startup_s` is 0.
    """
    code, wall, usage = _spawn([sys.executable, "-m", "stratify.cli", *args], work, env)
    if code != 0:
        raise BenchError(f"stratify {' '.join(args[:1])} failed (exit {code})\n{_log_tail(work)}")
    return Measured(wall, wall, usage.ru_utime + usage.ru_stime, _maxrss_mb(usage.ru_maxrss))


def _spawn(argv: list[str], work: Path, env: dict[str, str] | None) -> tuple[int, float, Any]:
    """Start `argv` with its output appended to bench.log; its exit code, wall seconds and `wait4` usage."""
    log = work / "bench.log"
    actions = [(os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640),
               (os.POSIX_SPAWN_DUP2, 1, 2)]
    t0 = time.perf_counter()
    pid = os.posix_spawn(sys.executable, argv, {**os.environ, **(env or {})}, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status), time.perf_counter() - t0, usage


def _log_tail(work: Path) -> str:
    log = work / "bench.log"
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]) if log.exists() else ""


def child_main(spec_path: str, result_path: str) -> int:
    """Inside the step's process: import what the step needs, then time only the step."""
    op = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    try:
        step = _prepare(op)
        t0 = time.perf_counter()
        result = step()
        out = {"seconds": time.perf_counter() - t0, "result": result, "costs_parts": _costs_parts()}
    except Exception as exc:  # reported by the parent, with the log's tail
        out = {"error": f"{type(exc).__name__}: {exc}"}
    Path(result_path).write_text(json.dumps(out, default=str), encoding="utf-8")
    return 1 if "error" in out else 0


def _costs_parts() -> dict[str, float]:
    """What this process spent on costs, handoffs and priorities inside its stage (`stratify.costs.timing`)."""
    from stratify.costs.timing import spent

    return spent()


def _prepare(op: dict[str, Any]) -> Callable[[], Any]:
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
        from stratify.publish.stage import PublishHeld
        from stratify.run.pipeline import stage_function

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
