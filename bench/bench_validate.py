"""Benchmark: validate one big health delivery, print wall time and peak memory.

    .venv/bin/python bench/bench_validate.py --rows 1000000
    .venv/bin/python bench/bench_validate.py --rows 10000000

Builds a place in a temporary folder with a contract-valid person register
(`--people`) and a contract-valid health delivery of `--rows` rows, both as
Parquet written by DuckDB from `range()` (bench/sql/*.sql), discovers them,
then runs the pipeline's validation stage (`stratify.validate.stage.validate_deliveries`,
the function that decides each delivery) in a child process, so that the peak
resident memory reported is the validation's own and not the generator's.

Figures go to stdout and to bench/results/validate-<rows>.json (kept out of
git): `health_validate_s` is the health delivery's own time as the stage
reports it, `stage_s` the whole stage (register, health, Data Docs),
`process_cpu_s` the child's CPU seconds (all threads; it moves less than wall
time when other work shares the machine, so the 1-minute load average is
recorded too) and `peak_rss_mb` its peak resident memory. Memory follows the
place's `duckdb.memory_limit` (`--memory-limit`, 1GB here): the delivery is
held by DuckDB, which spills past the limit. The bench fails (exit 1) if a
delivery is not accepted: a fast validation that refuses good data measures
nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SQL = Path(__file__).resolve().parent / "sql"
sys.path.insert(0, str(ROOT))

DELIVERY_DATE = date(2026, 11, 20)
LSOAS = {"E01000001": "T1", "E01000002": "T1", "E01000003": "T2", "E01000004": "T2"}


def write_place(folder: Path, threads: int, memory_limit: str) -> Path:
    """A place YAML with the given DuckDB resources; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "neighbourhoods.csv").write_text(
        "lsoa21,team\n" + "".join(f"{k},{v}\n" for k, v in LSOAS.items()), encoding="utf-8")
    cfg = folder / "place.yaml"
    cfg.write_text(
        "place: bench\nlanding: landing\nwarehouse: wh/bench.duckdb\nout: out\n"
        f"neighbourhoods: neighbourhoods.csv\nduckdb: {{threads: {threads}, memory_limit: {memory_limit}}}\n",
        encoding="utf-8",
    )
    return cfg


def write_deliveries(landing: Path, rows: int, people: int, threads: int) -> dict[str, Path]:
    """The register and the health delivery as Parquet, generated in DuckDB (no Python row loops)."""
    import duckdb

    stamp = f"{DELIVERY_DATE:%Y%m%d}"
    out = {"register": landing / "register" / f"register_{stamp}.parquet",
           "health": landing / "health" / f"health_{stamp}.parquet"}
    for p in out.values():
        p.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"threads": threads})
    try:
        con.sql((SQL / "register_delivery.sql").read_text(encoding="utf-8"),
                params={"people": people, "lsoas": list(LSOAS)}).write_parquet(str(out["register"]))
        con.sql((SQL / "health_delivery.sql").read_text(encoding="utf-8"),
                params={"rows": rows, "people": people, "delivery_date": DELIVERY_DATE}
                ).write_parquet(str(out["health"]))
    finally:
        con.close()
    return out


def child(config: Path, ctx_json: str) -> int:
    """Run the validation stage once and print its figures as JSON (runs in its own process)."""
    from stratify.config import load_config
    from stratify.run.context import RunContext
    from stratify.validate.stage import validate_deliveries

    cfg = load_config(config)
    ctx = RunContext.from_dict(json.loads(ctx_json))
    t0 = time.perf_counter()
    summary = validate_deliveries(cfg, ctx)
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"stage_s": round(wall, 2), "summary": summary, "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
                      "peak_rss_mb": round(usage.ru_maxrss / 1024)}, default=str))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="rows in the health delivery")
    p.add_argument("--people", type=int, default=None, help="people in the register (default rows/10, at most 500k)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--memory-limit", default="1GB", help="the place's duckdb.memory_limit")
    p.add_argument("--keep", action="store_true", help="keep the generated place (printed) afterwards")
    p.add_argument("--child", nargs=2, metavar=("CONFIG", "CTX"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(Path(args.child[0]), args.child[1])

    from stratify.config import load_config
    from stratify.ingest.discover import discover_deliveries
    from stratify.run.context import RunContext, staging_dir
    from stratify.warehouse.database import connect

    people = args.people or max(1, min(args.rows // 10, 500_000))
    work = Path(tempfile.mkdtemp(prefix=f"bench-validate-{args.rows}-"))
    try:
        cfg = load_config(write_place(work, args.threads, args.memory_limit))
        t0 = time.perf_counter()
        files = write_deliveries(cfg.landing, args.rows, people, args.threads)
        generate_s = time.perf_counter() - t0
        ctx = RunContext.new(cfg, DELIVERY_DATE)
        with connect(cfg) as con:
            con.execute("INSERT INTO runs (run_id, place, as_of, started_at, status) VALUES ($1, $2, $3, now(), 'running')",
                        [ctx.run_id, cfg.place, ctx.as_of])
        staging_dir(cfg, ctx).mkdir(parents=True, exist_ok=True)
        discover_deliveries(cfg, ctx, settle_seconds=0)

        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--child", str(cfg.path), json.dumps(ctx.to_dict())],
                              capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            return 1
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        by_source = {d["source"]: d for d in result["summary"]["deliveries"]}
        health = by_source["health"]
        figures = {
            "rows": args.rows, "people": people, "threads": args.threads, "memory_limit": args.memory_limit,
            "health_parquet_mb": round(files["health"].stat().st_size / 2**20, 1),
            "generate_s": round(generate_s, 2),
            "health_validate_s": health["seconds"], "register_validate_s": by_source["register"]["seconds"],
            "stage_s": result["stage_s"], "process_wall_s": round(wall, 2), "process_cpu_s": result["cpu_s"],
            "load_average_1m": round(os.getloadavg()[0], 1),
            "peak_rss_mb": max(result["peak_rss_mb"],
                               round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)),
            "decisions": {s: d["decision"] for s, d in by_source.items()},
        }
    finally:
        if args.keep:
            print(f"place kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    out = ROOT / "bench" / "results" / f"validate-{args.rows}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    print(json.dumps(figures, indent=2))
    if figures["decisions"].get("health") != "accepted" or figures["decisions"].get("register") != "accepted":
        print(f"the bench deliveries were not accepted: {health['reason']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
