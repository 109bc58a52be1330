"""Benchmark: generate a place, run the nightly pipeline twice, print the figures.

    python bench/bench_nightly.py --people 20000
    python bench/bench_nightly.py --people 330000

Figures go to stdout and to bench/results/<people>.json (kept out of git) so
they can be compared across commits. The first run is a first load (every
delivery of the place's history, plus training the first model); the second
is a night with no new deliveries (every window recomputed, nothing loaded).
Peak memory is the process's maximum resident set size after each phase.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stratify.config import load_config  # noqa: E402
from stratify.pipeline import run_pipeline  # noqa: E402
from stratify.synth import synthesize  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_place(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "place.yaml"
    cfg.write_text(
        "place: bench\nlanding: landing\nwarehouse: bench.duckdb\nout: out\n"
        "neighbourhoods: neighbourhoods.csv\ncapacity:\n  default: 50\n",
        encoding="utf-8",
    )
    return cfg


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=20_000)
    p.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 20))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", action="store_true", help="keep the generated place afterwards")
    args = p.parse_args()

    work = ROOT / "bench" / "results" / f"place-{args.people}"
    shutil.rmtree(work, ignore_errors=True)
    cfg = load_config(write_place(work))
    figures: dict[str, object] = {"people": args.people, "as_of": args.as_of.isoformat()}

    t0 = time.perf_counter()
    summary = synthesize(cfg, people=args.people, as_of=args.as_of, seed=args.seed)
    figures["synth"] = {"total_s": round(time.perf_counter() - t0, 2), "peak_rss_mb": round(peak_rss_mb())}
    print(summary.format())

    for phase in ("first_load", "night_no_new_deliveries"):
        t0 = time.perf_counter()
        result = run_pipeline(cfg, args.as_of)
        figures[phase] = {
            "total_s": round(time.perf_counter() - t0, 2),
            "status": result["status"],
            "stages_s": result["seconds"],
            "peak_rss_mb": round(peak_rss_mb()),
        }
    out = ROOT / "bench" / "results" / f"{args.people}.json"
    out.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    print(json.dumps(figures, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
