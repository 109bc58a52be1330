"""The wobbling benchmark: who each ranking puts first among the not-yet-in-crisis, against what happened next.

    stratify bench-wobbling --people 20000 [--people 100000] [--worlds stratify,stepwise]
    python -m stratify.bench.wobbling --people 20000

Per world (`stratify`: stratify's own generator; `stepwise`: the second world,
`stratify.worlds`) and per place size, it

1. makes the world six months past the as-of date and gives the product only
   what was delivered by the as-of date (`wobbling_worlds`);
2. runs stratify's first night on it (`run_pipeline`: validate, load,
   features, rules, training the first model, scores, lists), timed;
3. loads the whole world into an oracle warehouse and evaluates the crisis
   rules at the six monthly dates after the as-of date (`wobbling_truth`);
4. prints, for each ranking (`wobbling_rankings`: stratify's lists, the
   one-line heuristic, the answer key, and dssg/triage when its results are
   there), the precision of each team's first 10 and first 25 wobbling people:
   the share who met a crisis rule within six months of the as-of date.

Future events are used only to score; the product never sees them. triage
runs in its own virtual environment (`bench/triage/`): with `--triage` and
`/work/triage-venv` (or `--triage-venv`) present, its experiment runs on the
same place and adds a column. Figures go to stdout and to
`bench/results/wobbling-<people>.json` (kept out of git).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd

from stratify.bench.wobbling_rankings import by_scores, candidates, heuristic, stratify_lists
from stratify.bench.wobbling_report import positives_note, precision, table
from stratify.bench.wobbling_truth import crisis_after, load_oracle
from stratify.bench.wobbling_worlds import WORLDS, BenchWorld, make_world, world_of
from stratify.resources import PROJECT_ROOT

RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
TRIAGE_VENV = Path("/work/triage-venv")
KS = (10, 25)


def run_triage(world: BenchWorld, venv: Path, work: Path, top_n: int) -> tuple[pd.Series | None, float | None, str]:
    """dssg/triage's scores on the as-of date for this place (bench/triage/run_triage.py in its own venv)."""
    from stratify.bench.wobbling_triage import triage_scores

    return triage_scores(world, venv, work, top_n)


def bench_one(name: str, people: int, as_of: date, seed: int, work: Path, triage_venv: Path | None,
              reuse: bool = False) -> list[dict]:
    """One world at one size: make it, run the first night, score every ranking (`reuse`: a place made before)."""
    from stratify.run.pipeline import run_pipeline

    folder = work / f"{name}-{people}"
    done = folder / "night.json"  # written once the first night and the oracle are done
    if reuse and done.exists():
        world = world_of(name, folder, people, as_of)
        night_s = json.loads(done.read_text(encoding="utf-8"))["night_s"]
        print(f"[{name} {people:,}] reusing {folder} (its first night took {night_s:.0f} s)", flush=True)
    else:
        if folder.exists():
            shutil.rmtree(folder)
        world = make_world(name, folder, people, as_of, seed)
        print(f"[{name} {people:,}] generated in {world.generate_s:.0f} s", flush=True)
        t0 = time.perf_counter()
        result = run_pipeline(world.place, as_of)
        night_s = time.perf_counter() - t0
        if result.get("status") != "published":
            raise RuntimeError(f"bench wobbling: the first night on {name} did not publish: {result.get('status')}")
        print(f"[{name} {people:,}] stratify's first night {night_s:.0f} s", flush=True)
        oracle_s = load_oracle(world.oracle, world.end)
        print(f"[{name} {people:,}] oracle loaded in {oracle_s:.0f} s", flush=True)
        done.write_text(json.dumps({"night_s": round(night_s, 1), "oracle_s": round(oracle_s, 1), "seed": seed}),
                        encoding="utf-8")
    truth = crisis_after(world.oracle, as_of, world.end)
    met = set(truth.index[truth["first_month"] > 0])
    cands = candidates(world.place)
    print(f"[{name} {people:,}] {positives_note(truth, cands)}", flush=True)
    rankings: dict[str, tuple[dict, float | None]] = {}
    rankings["stratify"] = ({k: stratify_lists(world.place, k) for k in KS}, night_s)
    # the same model's scores without the list's household grouping (a wobbling housemate of someone in
    # crisis is listed beside them, ahead of higher scores): what the model ranks first
    scored = cands[cands["score"] >= world.place.model.min_wobbling_score]
    rankings["stratify by score"] = ({k: by_scores(scored, scored.set_index("person_id")["score"], k) for k in KS}, None)
    t1 = time.perf_counter()
    rankings["heuristic"] = ({k: heuristic(cands, k) for k in KS}, time.perf_counter() - t1)
    key = world.key_risk()
    rankings["answer key"] = ({k: by_scores(cands, key, k) for k in KS}, None)
    if triage_venv is not None:
        scores, triage_s, why = run_triage(world, triage_venv, folder / "triage", max(KS) * cands["team"].nunique())
        print(f"[{name} {people:,}] triage: {why}", flush=True)
        if scores is not None:
            rankings["triage"] = ({k: by_scores(cands, scores, k) for k in KS}, triage_s)
    rows = []
    for ranking, (picked, seconds) in rankings.items():
        (p10, n10), (p25, n25) = (precision(picked[k], met) for k in KS)
        rows.append({"world": name, "people": people, "ranking": ranking, "p10": p10, "n10": n10, "p25": p25,
                     "n25": n25, "seconds": None if seconds is None else round(seconds, 1),
                     "teams": len(picked[KS[0]])})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="stratify bench-wobbling", description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, action="append", help="place size (repeat for several; default 20,000)")
    p.add_argument("--worlds", default=",".join(WORLDS), help=f"comma-separated, of {', '.join(WORLDS)}")
    p.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 20))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=RESULTS_DIR / "wobbling", help="where the places are built")
    p.add_argument("--triage", action="store_true", help="also run dssg/triage's experiment (its own venv)")
    p.add_argument("--triage-venv", type=Path, default=TRIAGE_VENV)
    p.add_argument("--reuse", action="store_true",
                   help="score again on places a previous run made in --work (its first night's seconds are kept)")
    args = p.parse_args(argv)
    sizes = args.people or [20_000]
    worlds = [w.strip() for w in args.worlds.split(",") if w.strip()]
    unknown = set(worlds) - set(WORLDS)
    if unknown or any(n < 1000 for n in sizes):
        print(f"stratify bench-wobbling: worlds are {', '.join(WORLDS)} and places at least 1,000 people",
              file=sys.stderr)
        return 2
    venv = args.triage_venv if args.triage and (args.triage_venv / "bin" / "python").exists() else None
    if args.triage and venv is None:
        print(f"stratify bench-wobbling: no triage venv at {args.triage_venv} (bench/triage/make_venv.sh): "
              "triage left out", file=sys.stderr)
    rows = []
    for people in sizes:
        for name in worlds:
            rows += bench_one(name, people, args.as_of, args.seed, args.work, venv, args.reuse)
    print()
    print(table(rows))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"wobbling-{'-'.join(str(n) for n in sizes)}.json"
    out.write_text(json.dumps({"as_of": args.as_of.isoformat(), "seed": args.seed, "rows": rows}, indent=2),
                   encoding="utf-8")
    print(f"\nfigures: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
