"""Run dssg/triage 6.0 on one benchmark place: load it into PostgreSQL, run the experiment, write the as-of scores.

Runs in triage's own virtual environment (bench/triage/make_venv.sh), never the product's:

    /work/triage-venv/bin/python bench/triage/run_triage.py --work DIR --as-of 2026-11-20 --top-n 200

DIR holds what `stratify bench-wobbling --triage` exported from the place's warehouse (stratify.bench.wobbling_triage):
`events.parquet` (entity_id, event_date, source, event_type: the current version of every delivered event),
`crisis_monthly.parquet` (entity_id, as_of_date, in_crisis: stratify's crisis rules on monthly dates) and
`meta.json` (event types and sources). The database (default `stratify_triage_bench` on 127.0.0.1:5432,
trust authentication) is dropped and created afresh: it is this benchmark's own, never a default one.

The experiment is `experiment.yaml` beside this file (its comments say what each part is). The model group
is chosen by its mean precision in the first `--top-n` over the labelled test splits; the model of that
group trained last scores the place's as-of date. Writes `DIR/triage_scores.csv` (entity_id, score) and
prints one JSON line of timings.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from datetime import date
from pathlib import Path

import pandas as pd
import psycopg2
import yaml
from dateutil.relativedelta import relativedelta
from sqlalchemy import text

HERE = Path(__file__).resolve().parent


def fresh_database(host: str, port: int, user: str, name: str) -> None:
    if not name.replace("_", "").isalnum() or name in {"postgres", "template0", "template1"}:
        raise SystemExit(f"run_triage: refusing database name {name!r}: use a benchmark database of its own")
    con = psycopg2.connect(host=host, port=port, user=user, dbname="postgres")
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    con.close()


def copy_frame(con, table: str, frame: pd.DataFrame, ddl: str) -> None:
    with con.cursor() as cur:
        cur.execute(ddl)
        buf = io.StringIO()
        frame.to_csv(buf, index=False, header=False)
        buf.seek(0)
        cur.copy_expert(f"COPY {table} FROM STDIN WITH (FORMAT csv)", buf)
    con.commit()


def experiment_config(as_of: date, meta: dict, top_n: int) -> dict:
    since = [{"quantity": {f"days_since_{s}": f"CASE WHEN source = '{s}' THEN '{{collate_date}}'::date - event_date END"},
              "metrics": ["min"]} for s in meta["sources"]]
    tokens = {
        "@FEATURE_START@": (as_of - relativedelta(years=3)).isoformat(),
        "@FEATURE_END@": (as_of + relativedelta(days=1)).isoformat(),
        "@LABEL_START@": (as_of - relativedelta(months=24)).isoformat(),
        "@LABEL_END@": (as_of + relativedelta(months=6)).isoformat(),
        "@EVENT_TYPES@": json.dumps(meta["event_types"]),
        "@SINCE_AGGREGATES@": json.dumps(since),
        "@TOP_N@": str(int(top_n)),
    }
    body = (HERE / "experiment.yaml").read_text(encoding="utf-8")
    for k, v in tokens.items():
        body = body.replace(k, v)
    return yaml.safe_load(body)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--as-of", type=date.fromisoformat, required=True)
    p.add_argument("--top-n", type=int, required=True, help="the list size precision is chosen on (all teams)")
    p.add_argument("--db", default="stratify_triage_bench")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5432)
    p.add_argument("--user", default="postgres")
    args = p.parse_args()
    from triage.experiments import SingleThreadedExperiment
    from triage.util.db import create_engine  # triage's own engine (it asks it for an inspector)

    t0 = time.perf_counter()
    meta = json.loads((args.work / "meta.json").read_text(encoding="utf-8"))
    fresh_database(args.host, args.port, args.user, args.db)
    con = psycopg2.connect(host=args.host, port=args.port, user=args.user, dbname=args.db)
    copy_frame(con, "events", pd.read_parquet(args.work / "events.parquet"),
               "CREATE TABLE events (entity_id integer, event_date date, source text, kind text)")
    copy_frame(con, "crisis_monthly", pd.read_parquet(args.work / "crisis_monthly.parquet"),
               "CREATE TABLE crisis_monthly (entity_id integer, as_of_date date, in_crisis boolean)")
    with con.cursor() as cur:
        cur.execute("CREATE INDEX ON events (entity_id, event_date); CREATE INDEX ON crisis_monthly (as_of_date, entity_id); "
                    "ANALYZE events; ANALYZE crisis_monthly")
    con.commit()
    con.close()
    load_s = time.perf_counter() - t0
    engine = create_engine(f"postgresql://{args.user}@{args.host}:{args.port}/{args.db}")
    experiment = SingleThreadedExperiment(config=experiment_config(args.as_of, meta, args.top_n), db_engine=engine,
                                          project_path=str(args.work / "project"), replace=True)
    experiment.run()
    experiment_s = time.perf_counter() - t0 - load_s
    with engine.connect() as c:
        groups = pd.read_sql(text(
            "SELECT m.model_group_id, avg(e.stochastic_value) AS precision, count(*) AS splits "
            "FROM test_results.evaluations e JOIN triage_metadata.models m USING (model_id) "
            "WHERE e.metric = 'precision@' AND e.parameter = :param AND e.evaluation_start_time < :as_of "
            "GROUP BY 1 ORDER BY 2 DESC, 1"), c, params={"param": f"{args.top_n}_abs", "as_of": args.as_of})
        if groups.empty:
            raise SystemExit("run_triage: no labelled evaluations: the experiment trained no usable model")
        chosen = int(groups["model_group_id"].iloc[0])
        scores = pd.read_sql(text(
            "SELECT p.entity_id, p.score FROM test_results.predictions p JOIN triage_metadata.models m USING (model_id) "
            "WHERE m.model_group_id = :g AND p.as_of_date = :as_of AND m.train_end_time = ("
            "  SELECT max(train_end_time) FROM triage_metadata.models WHERE model_group_id = :g)"),
            c, params={"g": chosen, "as_of": args.as_of})
        n_models = c.execute(text("SELECT count(*) FROM triage_metadata.models")).scalar()
        desc = c.execute(text("SELECT model_type || ' ' || hyperparameters::text FROM triage_metadata.model_groups "
                              "WHERE model_group_id = :g"), {"g": chosen}).scalar()
    if scores.empty:
        raise SystemExit("run_triage: the chosen model group made no predictions on the as-of date")
    scores.to_csv(args.work / "triage_scores.csv", index=False)
    print(json.dumps({"load_s": round(load_s, 1), "experiment_s": round(experiment_s, 1),
                      "total_s": round(time.perf_counter() - t0, 1), "models": int(n_models),
                      "chosen_group": chosen, "chosen": desc, "chosen_precision": float(groups["precision"].iloc[0]),
                      "splits_evaluated": int(groups["splits"].iloc[0]), "scored": int(len(scores))}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
