"""The nightly benchmark: a synthetic place of N people, a first load and a typical night, measured per stage.

    stratify bench --people 20000          # or: make bench PEOPLE=20000
    stratify bench --compare               # time per person across bench/results/*.json
    stratify bench app --people 330000 --work DIR   # the web app under load: app_load, app_driver, app_figures

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

Issue 16's figures: the night's share for costs, handoffs and priorities
(`night.costs_s`, `costs_share`, `costs_added`: the costs stage plus the
parts of rank and publish that `stratify.costs.timing` times, the list
columns, the baseline page and the cost sentences), and `stratify baseline`
run after the night as its user runs it, a command in its own process,
wall time and peak memory (`baseline`; `--baseline-only --work DIR` times it
again on a place kept with `--keep`). The place carries the four example
priorities of docs/costs.md.

Figures go to stdout (beside the issue's targets and the ratio to the floor)
and to `bench/results/<people>.json` (kept out of git).

Modules: `measure` (a step in its own process), `floors`, `phase` (a run
stage by stage), `run` (the benchmark), `report`, `cli`.

The wobbling benchmark (`stratify bench-wobbling`, docs/wobbling-benchmark.md) is
`wobbling` with `wobbling_worlds`, `wobbling_truth`, `wobbling_rankings`,
`wobbling_triage` and `wobbling_report`.
"""

from stratify.bench.cli import add_arguments, main, run_from_args
from stratify.bench.floors import landing_files, read_files_floor, read_warehouse_floor
from stratify.bench.measure import BenchError, Measured, child_main, run_command, run_step
from stratify.bench.phase import Phase, run_phase
from stratify.bench.report import TARGETS, compare, issue16_lines, report, targets_for
from stratify.bench.run import RESULTS_DIR, add_floor_ratios, measure_baseline, rerun_baseline, run_bench, write_place

__all__ = ["RESULTS_DIR", "TARGETS", "BenchError", "Measured", "Phase", "add_arguments", "add_floor_ratios",
           "child_main", "compare", "issue16_lines", "landing_files", "main", "measure_baseline", "read_files_floor",
           "read_warehouse_floor", "report", "rerun_baseline", "run_bench", "run_command", "run_from_args", "run_phase",
           "run_step", "targets_for", "write_place"]
