"""Many places on Airflow's CeleryExecutor: the night for N places on two workers against one.

    PYTHONPATH=. .venv/bin/python bench/bench_many_places.py --places 3 --people 330000

1. Prepare (not timed): a synthetic place of `--people` with `--years` of
   history, first-loaded with `stratify run` (which trains its first model),
   then one night's deliveries on top (`synthesize_day`), as in `stratify
   bench`; the other N-1 places are copies of it under other place names, so
   every place has the same night's work. These folders are the snapshot.
2. One deployment is started (`stratify.airflow.deployment`: its own
   PostgreSQL database, Redis database number and AIRFLOW_HOME). For each
   worker count (`--workers 1,2`, smallest first) it has that many workers
   (one task at a time each) and as many `stratify_warehouse` pool slots;
   the places are restored from the snapshot, the nightly DAG is triggered
   for all of them through the REST API, and the night is timed. Then
   everything is stopped, the database dropped and the Redis db flushed.

The figure is the night's wall time for all places: the DAG run's start to
its end, as Airflow recorded it. Beside it: each place's own span (its
`start_run` start to its `finish` end), the sum of all task durations (work
the workers did, including every task's start-up), which worker ran each
task, and the ratio one worker / two workers. Written to
`bench/results/many-places-<people>x<N>.json` (kept out of git).

Needs PostgreSQL and Redis on 127.0.0.1 (`bash deploy/ensure-services.sh`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from stratify.airflow import namespace  # noqa: E402
from stratify.airflow.deployment import Launcher, Settings  # noqa: E402
from stratify.airflow.env import WAREHOUSE_POOL  # noqa: E402
from stratify.airflow.rest import AirflowApi  # noqa: E402

DAG_ID = "nightly_stratification"
RESULTS = PROJECT / "bench" / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def prepare_places(work: Path, places: int, people: int, years: int, as_of: date) -> list[Path]:
    """N places, each first-loaded as of `as_of` with the next night's deliveries waiting in landing.

    One place is made (synthesised, first-loaded, which trains its model, and
    given tonight's deliveries); the others are copies of its folder under
    another place name. So every place does the same work tonight, and the
    preparation costs one first load, not N.
    """
    from stratify.config import load_config
    from stratify.synth.generate import synthesize, synthesize_day

    first = work / "snapshot" / "place1"
    first.mkdir(parents=True)
    config = first / "place.yaml"
    yaml = ("landing: landing\nwarehouse: place.duckdb\nout: out\n"
            "neighbourhoods: neighbourhoods.csv\ncapacity:\n  default: 50\n")
    config.write_text("place: place1\n" + yaml, encoding="utf-8")
    cfg = load_config(config)
    t0 = time.monotonic()
    synthesize(cfg, people=people, as_of=as_of, years=years, seed=1)
    print(f"  place1: {people:,} people, {years} years synthesised ({time.monotonic() - t0:.0f} s)", flush=True)
    done = subprocess.run([sys.executable, "-m", "stratify.cli", "run", "--config", str(config),
                           "--as-of", as_of.isoformat()], cwd=PROJECT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the first load failed: {(done.stdout + done.stderr)[-2000:]}")
    synthesize_day(cfg, as_of + timedelta(days=1), seed=1)
    print(f"  place1: first load done, tonight's deliveries written ({time.monotonic() - t0:.0f} s)", flush=True)
    configs = [config]
    for i in range(2, places + 1):
        folder = work / "snapshot" / f"place{i}"
        shutil.copytree(first, folder, symlinks=True)
        (folder / "place.yaml").write_text(f"place: place{i}\n" + yaml, encoding="utf-8")
        configs.append(folder / "place.yaml")
    return configs


def restore(work: Path, configs: list[Path]) -> list[Path]:
    """Fresh copies of the snapshot's places under `work/run/`: every measurement starts from the same state."""
    from stratify.config import load_config
    from stratify.warehouse.database import connect

    run = work / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(work / "snapshot", run, symlinks=True)
    restored = [run / c.parent.name / c.name for c in configs]
    for config in restored:  # the registered model's path is absolute: each place reads its own copy
        cfg = load_config(config)
        with connect(cfg) as con:
            for version, path in con.execute("SELECT model_version, path FROM models").fetchall():
                con.execute("UPDATE models SET path = $1 WHERE model_version = $2",
                            [str(cfg.models / Path(path).name), version])
    return restored


def measure_all(work: Path, configs: list[Path], counts: list[int], night: date, timeout: float) -> list[dict]:
    """One night for every place on each worker count, in one deployment that gains workers between nights."""
    db_name, db_url = namespace.create_database()
    redis_db, broker = namespace.claim_redis_db()
    names = tuple(f"worker-{chr(ord('a') + i)}" for i in range(max(counts)))
    home = work / "airflow"
    shutil.rmtree(home, ignore_errors=True)
    settings = Settings(airflow_home=home, database_url=db_url, broker_url=broker, api_port=free_port(),
                        workers=names, worker_concurrency=1, pool_slots=min(counts), schedule=False,
                        log_server_ports={w: free_port() for w in names}, project_root=PROJECT)
    launcher = Launcher(settings)
    results = []
    try:
        t0 = time.monotonic()
        launcher.migrate()
        launcher.start_services()
        launcher.set_pool()
        api = None
        for workers in counts:
            for name in names[:workers]:
                if name not in launcher.procs:
                    launcher.start_worker(name)
            launcher.run("pools", "set", WAREHOUSE_POOL, str(workers), "stratify DuckDB warehouses: places at once")
            launcher.wait_ready(timeout=300)
            if api is None:
                api = AirflowApi(settings.api_url, home)
                api.wait_for_dag(DAG_ID)
                print(f"  deployment ready in {time.monotonic() - t0:.0f} s", flush=True)
            placed = restore(work, configs)
            print(f"  {workers} worker(s), pool {workers}: night triggered", flush=True)
            run_id = api.trigger(DAG_ID, {"configs": [str(c) for c in placed], "as_of": night.isoformat()})
            run = api.wait_for_run(DAG_ID, run_id, timeout)
            tis = api.task_instances(DAG_ID, run_id)
            tries = [t for (task, index) in tis for t in api.tries(DAG_ID, run_id, task, index)]
            results.append(figures(run, tries, placed, workers))
            r = results[-1]
            print(f"  {workers} worker(s): night {r['wall_s']} s ({r['state']}), task seconds {r['task_seconds']}, "
                  f"tasks by worker {r['tasks_by_worker']}", flush=True)
        api.close()
    finally:
        launcher.stop_all()
        namespace.drop_database(db_name)
        namespace.release_redis_db(redis_db)
    return results


def figures(run: dict, tries: list[dict], configs: list[Path], workers: int) -> dict:
    done = [t for t in tries if t.get("start_date") and t.get("end_date")]
    per_place = {}
    for index, config in enumerate(configs):
        mine = [t for t in done if t["map_index"] == index]
        start = min(_when(t["start_date"]) for t in mine if t["task_id"] == "place.start_run")
        end = max(_when(t["end_date"]) for t in mine if t["task_id"] == "place.finish")
        per_place[config.parent.name] = {
            "span_s": round((end - start).total_seconds(), 1),
            "tasks_s": round(sum(t["duration"] or 0 for t in mine), 1),
            "finish": next(t["state"] for t in mine if t["task_id"] == "place.finish"),
        }
    hosts: dict[str, int] = {}
    for t in done:
        hosts[t["hostname"]] = hosts.get(t["hostname"], 0) + 1
    return {
        "workers": workers, "state": run["state"],
        "wall_s": round((_when(run["end_date"]) - _when(run["start_date"])).total_seconds(), 1),
        "task_seconds": round(sum(t["duration"] or 0 for t in done), 1), "tasks": len(done),
        "retried": sum(1 for t in done if t["try_number"] > 1), "tasks_by_worker": hosts, "places": per_place,
    }


def machine() -> dict:
    import psutil

    return {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "load_avg": [round(x, 2) for x in os.getloadavg()]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--places", type=int, default=3)
    p.add_argument("--people", type=int, default=330_000, help="people per place")
    p.add_argument("--years", type=int, default=3, help="years of history per place")
    p.add_argument("--workers", default="1,2", help="worker counts to measure, in order (default 1,2)")
    p.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 20), help="the first load's date")
    p.add_argument("--timeout", type=float, default=3600, help="seconds a night may take")
    p.add_argument("--work", type=Path, help="folder for the places and Airflow homes (default: a temporary one)")
    p.add_argument("--reuse", action="store_true",
                   help="reuse --work's snapshot from an earlier run (same --places and --people) instead of preparing")
    args = p.parse_args(argv)
    errors = [e for e in (namespace.postgres_error(), namespace.redis_error()) if e]
    if errors:
        print("cannot run: " + "; ".join(errors) + " (start them: bash deploy/ensure-services.sh)", file=sys.stderr)
        return 2
    work = Path(args.work or tempfile.mkdtemp(prefix="stratify-many-places-")).resolve()
    reuse = bool(args.reuse and args.work and len(list((work / "snapshot").glob("place*/place.yaml"))) == args.places)
    if not reuse:
        shutil.rmtree(work / "snapshot", ignore_errors=True)
    started = time.monotonic()
    result = {"command": " ".join(sys.argv), "places": args.places, "people": args.people, "years": args.years, "as_of": args.as_of.isoformat(),
              "machine_start": machine(), "runs": []}
    try:
        print(f"preparing {args.places} places of {args.people:,} people in {work}", flush=True)
        t0 = time.monotonic()
        configs = (sorted((work / "snapshot").glob("place*/place.yaml"), key=lambda c: int(c.parent.name[5:]))
                   if reuse else prepare_places(work, args.places, args.people, args.years, args.as_of))
        result["prepare_s"] = round(time.monotonic() - t0, 1)
        counts = sorted(int(w) for w in args.workers.split(","))
        result["runs"] = measure_all(work, configs, counts, args.as_of + timedelta(days=1), args.timeout)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    walls = {r["workers"]: r["wall_s"] for r in result["runs"]}
    if 1 in walls and 2 in walls:
        result["speedup_2_over_1"] = round(walls[1] / walls[2], 2)
    result["machine_end"], result["total_s"] = machine(), round(time.monotonic() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"many-places-{args.people}x{args.places}.json"
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"\n{args.places} places x {args.people:,} people (prepare {result.get('prepare_s')} s, "
          f"total {result['total_s']} s)")
    print("| workers | night wall | task seconds | tasks by worker | place spans |")
    print("| --- | --- | --- | --- | --- |")
    for r in result["runs"]:
        spans = ", ".join(f"{k} {v['span_s']} s" for k, v in r["places"].items())
        print(f"| {r['workers']} | {r['wall_s']} s | {r['task_seconds']} s | {r['tasks_by_worker']} | {spans} |")
    if "speedup_2_over_1" in result:
        print(f"one worker / two workers: {result['speedup_2_over_1']}x")
    print(f"written: {out}")
    return 0 if all(r["state"] == "success" for r in result["runs"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
