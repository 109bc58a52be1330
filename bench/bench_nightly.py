"""Benchmark the nightly pipeline: a first load and a typical night, per stage, beside a read floor.

    python bench/bench_nightly.py --people 20000     # the same as `stratify bench --people 20000`
    python bench/bench_nightly.py --compare          # time per person across bench/results/*.json

A thin wrapper: the benchmark lives in `stratify/bench.py` (what it measures
and how is in its docstring and in docs/scaling.md). Figures go to stdout and
to bench/results/<people>.json (kept out of git).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stratify.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
