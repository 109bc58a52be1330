"""The figures as a table beside issue 6's targets and their floors, and time per person across sizes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stratify.bench.run import RESULTS_DIR

ISSUE_STAGES = ("validate", "load", "features", "score", "publish")  # the stages issue 6 asks about

# Issue 6's targets: figures to compare with, never assertions. Keyed by the
# place size they were set for; a run is compared with the smallest size at
# or above its own (else the largest).
TARGETS: dict[int, dict[str, float]] = {
    330_000: {"first_load.total_s": 300, "first_load.floor_ratio": 20,
              "night.total_s": 60, "night.floor_ratio": 10, "night.peak_rss_mb": 4096},
    3_000_000: {"first_load.total_s": 2700, "night.total_s": 600, "night.peak_rss_mb": 16384},
}
# Issue 16's speed targets, each set at one place size: costs, handoffs and
# priorities add under 10% to the night at 330,000 people, and `stratify
# baseline` for 3,000,000 people takes under a minute on 2 cores.
COSTS_ADDED_TARGET = (330_000, 0.10)
BASELINE_TARGET_S = (3_000_000, 60.0)
LINEAR_GROWTH_LIMIT = 1.5  # time per person at 1M over that at 100k


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
    lines += issue16_lines(figures)
    if "airflow" in figures:
        a = figures["airflow"]
        lines.append(f"  Airflow's own start-up per task (not in the totals): {a['task_startup_s']:.2f} s "
                     f"(import airflow.sdk + parse the DAG file), {a['peak_rss_mb']:,} MB")
    lines.append("  * the stages issue 6 names; start-up = process start and imports, not in `seconds`")
    return "\n".join(lines)


def issue16_lines(figures: dict[str, Any]) -> list[str]:
    """The night's share for costs, handoffs and priorities, and `stratify baseline`, beside issue 16's targets."""
    lines = []
    night = figures.get("night") or {}
    if night.get("costs_added") is not None:
        size, limit = COSTS_ADDED_TARGET
        added, share = night["costs_added"], night["costs_share"]
        verdict = "met" if added < limit else "NOT met"
        parts = ", ".join(
            f"the costs stage {v:.2f} s ({100 * v / night['total_s']:.1f}% of the night)" if k == "costs"
            else f"{k} {v:.2f} s" for k, v in night["costs_parts_s"].items())
        lines.append(f"  costs, handoffs and priorities (issue 16): {night['costs_s']:.2f} s of the night's "
                     f"{night['total_s']:.1f} s = {100 * share:.1f}% of the night, adding {100 * added:.1f}% to "
                     f"the rest (target < {100 * limit:.0f}% at {size:,} people: {verdict}): {parts}")
    if "baseline" in figures:
        b = figures["baseline"]
        size, limit = BASELINE_TARGET_S
        verdict = ("met" if b["wall_s"] < limit else "NOT met") if figures["people"] >= size else "set for that size"
        lines.append(f"  `stratify baseline` as of {b['as_of']} (issue 16): {b['wall_s']:.1f} s wall, "
                     f"{b['cpu_s']:.1f} CPU s, peak {b['peak_rss_mb']:,} MB "
                     f"(target < {limit:.0f} s at {size:,} people: {verdict})")
    return lines


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
