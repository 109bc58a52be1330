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
    """The options of `stratify bench` and `bench/bench_nightly.py`."""
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


DESCRIPTION = "The nightly benchmark: a synthetic place of N people, a first load and a typical night, measured per stage."


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1], argv[2])
    p = argparse.ArgumentParser(prog="stratify bench", description=DESCRIPTION)
    add_arguments(p)
    return run_from_args(p.parse_args(argv))
