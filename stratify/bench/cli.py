"""`stratify bench` and `python bench/bench_nightly.py`: options, running, printing."""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path

from stratify.bench.measure import BenchError, child_main
from stratify.bench.report import compare, issue16_lines, report
from stratify.bench.run import rerun_baseline, run_bench


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `stratify bench` and `bench/bench_nightly.py` (and of `stratify bench app`)."""
    p.add_argument("what", nargs="?", choices=("nightly", "app"), default="nightly",
                   help="nightly (default): a first load and a night per stage; app: signed-in users against "
                        "`stratify serve` while a night publishes")
    add_app_arguments(p)
    p.add_argument("--people", type=int, default=20_000, help="people in the synthetic place (default 20,000)")
    p.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 20),
                   help="the history's last day; the night is the day after")
    p.add_argument("--years", type=int, default=3, help="years of history (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=None, help="where to build the place (default bench/results/place-N)")
    p.add_argument("--keep", action="store_true", help="keep the generated place afterwards")
    p.add_argument("--compare", action="store_true", help="only compare time per person across bench/results/")
    p.add_argument("--baseline-only", action="store_true",
                   help="only time `stratify baseline` again on the place kept in --work by an earlier --keep run")


def run_from_args(args: argparse.Namespace) -> int:
    """Run the benchmark (or the comparison) and print the report."""
    if args.what == "app":
        return _run_app(args)
    if args.compare:
        print(compare())
        return 0
    if args.people < 100:
        raise ValueError("bench: --people must be at least 100")
    if args.baseline_only:
        if args.work is None:
            raise ValueError("bench: --baseline-only needs --work, the folder of a place kept with --keep")
        try:
            figures = rerun_baseline(args.people, args.work, args.as_of + timedelta(days=1))
        except BenchError as exc:
            print(f"stratify bench: {exc}", file=sys.stderr)
            return 1
        print("\n".join(issue16_lines(figures)).strip())
        print(f"\nfigures: {figures['results_file']}")
        return 0
    try:
        figures = run_bench(args.people, args.as_of, args.years, args.seed, args.work, args.keep)
    except BenchError as exc:
        print(f"stratify bench: {exc}", file=sys.stderr)
        return 1
    print(report(figures))
    print(f"\nfigures: {figures['results_file']}")
    return 0


def add_app_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `stratify bench app` (issue 19's load benchmark of the web app)."""
    a = p.add_argument_group("stratify bench app (reuses the place in --work if it holds one of --people)")
    a.add_argument("--users", type=int, default=50, help="concurrent signed-in users (default 50)")
    a.add_argument("--seconds", type=float, default=60.0,
                   help="how long the load runs (default 60; with a night, until --follow s after it publishes)")
    a.add_argument("--think", type=float, nargs=2, default=(1.0, 3.0), metavar=("MIN", "MAX"),
                   help="seconds each user waits between pages (default 1 3)")
    a.add_argument("--night-at", type=float, default=5.0,
                   help="seconds after the load starts that the night starts (negative: before it; default 5)")
    a.add_argument("--no-night", action="store_true", help="no nightly run during the load")
    a.add_argument("--load-from-stage", default=None, metavar="STAGE",
                   help="start the night first, and the load when the night reaches STAGE (e.g. publish)")
    a.add_argument("--follow", type=float, default=10.0,
                   help="with a night, load until this many seconds after it publishes (default 10)")
    a.add_argument("--max-seconds", type=float, default=900.0, help="the longest the load may run (default 900)")
    a.add_argument("--spawn-rate", type=float, default=10.0, help="users starting per second (default 10)")


def _run_app(args: argparse.Namespace) -> int:
    from stratify.bench.app_load import report_app, run_app_load
    from stratify.bench.run import RESULTS_DIR
    from stratify.run.pipeline import STAGES

    if args.work is None:
        args.work = RESULTS_DIR / f"app-{args.people}"
    if args.users < 1 or args.seconds <= 0 or not 0 <= args.think[0] <= args.think[1]:
        raise ValueError("bench app: --users must be at least 1, --seconds above 0, and 0 <= --think MIN <= MAX")
    if args.load_from_stage is not None and args.load_from_stage not in dict(STAGES):
        raise ValueError(f"bench app: --load-from-stage must be a stage: {', '.join(n for n, _ in STAGES)}")
    try:
        figures = run_app_load(args.people, args.work, args.users, args.seconds, args.as_of, args.years, args.seed,
                               tuple(args.think), None if args.no_night else args.night_at, args.spawn_rate,
                               load_from_stage=args.load_from_stage, follow_s=args.follow,
                               max_seconds=args.max_seconds)
    except BenchError as exc:
        print(f"stratify bench app: {exc}", file=sys.stderr)
        return 1
    print(report_app(figures))
    print(f"\nfigures: {figures['results_file']}")
    return 0


DESCRIPTION = "The nightly benchmark: a synthetic place of N people, a first load and a typical night, measured per stage."


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1], argv[2])
    p = argparse.ArgumentParser(prog="stratify bench", description=DESCRIPTION)
    add_arguments(p)
    return run_from_args(p.parse_args(argv))
