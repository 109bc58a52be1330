"""One pipeline run, stage by stage, each stage a measured step (as the DAG runs them, task by task)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from stratify.bench.measure import BenchError, Measured, run_step


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
            **self.costs_figures(total),
        }

    def costs_figures(self, total: float) -> dict[str, Any]:
        """What costs, handoffs and priorities take of the run (issue 16): the costs stage and its parts elsewhere.

        `costs_s`: the costs stage's seconds plus the parts of later stages
        timed by `stratify.costs.timing` (rank's list columns, publish's
        baseline page and cost sentences); `costs_share`: of `total_s`;
        `costs_added`: over the rest of the run (what they add to it).
        """
        parts = {"costs": self.steps["costs"].seconds} if "costs" in self.steps else {}
        for stage, m in self.steps.items():
            parts.update({f"{stage}.{part}": s for part, s in m.costs_parts.items()})
        spent = sum(parts.values())
        rest = total - spent
        return {"costs_s": round(spent, 3), "costs_parts_s": {k: round(v, 3) for k, v in parts.items()},
                "costs_share": round(spent / total, 4) if total > 0 else None,
                "costs_added": round(spent / rest, 4) if rest > 0 else None}


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
