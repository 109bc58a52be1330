"""Drift: is the promoted model still as good as its card says, and are tonight's people like its training rows?

Every night, two things:

- **The latest labelled period, re-measured.** The latest snapshot date whose
  horizon has fully passed by the as-of date is `horizon_months` before it.
  Features are built for that date and for each month after it up to the
  as-of date (the same feature SQL and point-in-time rule as training:
  history as known tonight), the people not in crisis on that date are
  scored with the promoted model, and labelled by whether they met a crisis
  rule at any of the later monthly dates (training's label). On those rows:
  the Brier score, calibration by score band (people, mean score, share who
  met a crisis rule; the bands of `stratify.model.score_bands`), and
  precision at capacity (each team's `capacity` highest scores), beside the
  figures recorded when the model was trained. The period moves with the
  as-of date, so each night measures the model on a period it may never
  have seen (a model trained a month ago was tested on a date a month older).
- **Tonight's features against the training range.** The share of tonight's
  people with any feature outside the range it took in the fitting rows (and
  the features most often outside it), from the `models` table's recorded
  metrics, so no model file is needed for it. A model trained before ranges
  were recorded says so.

Small numbers: a band's counts of people and of crises are withheld (null)
when between 1 and `min_count - 1`, and its observed share with them.
"""

from __future__ import annotations

import json
import math
from datetime import date
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd

from stratify.config import PlaceConfig
from stratify.features.build import build_feature_snapshots, drop_intermediates
from stratify.measures.inputs import MEASURES_SQL
from stratify.model.evaluation import HeldOut, evaluate
from stratify.model.labels import label_rows
from stratify.model.score_bands import score_bands
from stratify.resources import SQL_DIR
from stratify.rules import crisis_flags, required_columns
from stratify.warehouse.sql import read_sql, run_sql_file

if TYPE_CHECKING:
    from stratify.model.registry import ModelBundle

TOP_FEATURES = 5


def months_before(d: date, months: int) -> date:
    """`d` moved back by whole months (the last day of a shorter month when `d`'s day is not in it)."""
    return (pd.Timestamp(d) - pd.DateOffset(months=months)).date()


def labelled_dates(as_of: date, horizon_months: int) -> list[date]:
    """The latest labelled snapshot date, then the monthly dates its label is read at (the last is `as_of`)."""
    return [months_before(as_of, k) for k in range(horizon_months, -1, -1)]


def _small(n: int, min_count: int) -> bool:
    return 0 < n < min_count


def _snapshot(con: duckdb.DuckDBPyConnection, on: date, columns: list[str]) -> dict[str, np.ndarray]:
    cols = con.execute(read_sql(MEASURES_SQL / "drift_snapshot_rows.sql"), {"as_of": on, "columns": columns}).fetchnumpy()
    return {k: np.ma.filled(v, np.nan) if np.ma.isMaskedArray(v) and v.dtype.kind == "f" else np.asarray(v)
            for k, v in cols.items()}


def latest_labelled_period(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig, as_of: date,
                           bundle: ModelBundle) -> dict:
    """The promoted model re-measured on the latest labelled period (see the module docstring)."""
    dates = labelled_dates(as_of, cfg.model.horizon_months)
    rule_cols = required_columns(cfg.rules)
    build_feature_snapshots(con, cfg, dates, known_at=as_of, target="feat_train", persons="persons")
    drop_intermediates(con)
    run_sql_file(con, SQL_DIR / "wrong_persons.sql", {"as_of": as_of}, step="measure: wrong persons")
    wrong = {p for (p,) in con.execute("SELECT person_id FROM wrong_persons").fetchall()}
    have = {c for (c,) in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'feat_train'").fetchall()}
    missing = sorted(set(bundle.feature_columns) - have)
    if missing:
        return {"period": dates[0].isoformat(), "labels_to": as_of.isoformat(),
                "note": f"the model needs features tonight's feature build lacks ({', '.join(missing[:5])}): retrain"}
    first = _snapshot(con, dates[0], sorted(set(bundle.feature_columns) | set(rule_cols)))
    people = first["person_id"]
    crisis = [crisis_flags(pd.DataFrame({c: first[c] for c in rule_cols}), cfg.rules)]
    for d in dates[1:]:
        snap = _snapshot(con, d, rule_cols)
        if not np.array_equal(snap["person_id"], people):
            raise RuntimeError("drift: the labelled period's snapshots do not hold the same people on every date")
        crisis.append(crisis_flags(pd.DataFrame({c: snap[c] for c in rule_cols}), cfg.rules))
    con.execute("DROP TABLE IF EXISTS temp.main.feat_train")
    # training's own label (model.labels): not in crisis on the period's date, a first crisis within the horizon
    excluded = np.fromiter((p in wrong for p in people), dtype=bool, count=len(people))
    keep, y = label_rows(crisis, 0, len(dates) - 1, excluded)
    X = np.column_stack([np.asarray(first[c], dtype=np.float32)[keep] for c in bundle.feature_columns])
    held = HeldOut(y=y.astype(np.int8), teams=np.asarray(first["team"], dtype=object)[keep],
                   groups=pd.DataFrame({c: np.asarray(first[c], dtype=object)[keep]
                                        for c in ("sex", "age_band", "ethnic_group")}),
                   person_ids=people[keep])
    out = {"period": dates[0].isoformat(), "labels_to": as_of.isoformat(), "rows": int(keep.sum()),
           "positives": int(held.y.sum())}
    if not keep.any():
        out["note"] = "no one to measure on the labelled period"
        return out
    score = bundle.model.predict_proba(X)[:, 1]
    got = evaluate(held, score, cfg)
    # a figure that cannot be measured (AUROC with no one entering crisis) is null, not NaN, in manifest.json
    out.update({k: None if got[k] is None or math.isnan(got[k]) else float(got[k])
                for k in ("brier", "auroc", "average_precision", "precision_at_capacity", "recall_at_capacity")})
    out["score_bands"] = score_bands(held.y, score)
    return out


def _shown_bands(bands: list[dict], min_count: int) -> list[dict]:
    """Calibration by score band with small counts withheld: people, crises, mean score, observed share."""
    shown = []
    for b in bands:
        small = _small(b["people"], min_count) or _small(b["crises"], min_count)
        shown.append({"low": b["low"], "high": b["high"],
                      "people": None if _small(b["people"], min_count) else b["people"],
                      "crises": None if small else b["crises"],
                      "mean_score": None if _small(b["people"], min_count) else b["mean_score"],
                      "observed_share": None if small or not b["people"] else b["crises"] / b["people"]})
    return shown


def outside_training_range(con: duckdb.DuckDBPyConnection, ranges: dict) -> dict:
    """Share of tonight's people (`feat_person`) with a feature outside its training range, and the worst features."""
    have = {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'feat_person'").fetchall()}
    cols = [c for c in ranges["columns"] if c in have]
    if not cols:
        return {"people": None, "share_outside_training_range": None, "features_most_outside": []}
    X = con.table("feat_person").select(*[duckdb.ColumnExpression(c) for c in cols]).fetchnumpy()
    low = dict(zip(ranges["columns"], ranges["low"]))
    high = dict(zip(ranges["columns"], ranges["high"]))
    outside = np.column_stack([(np.asarray(X[c], dtype=float) < low[c]) | (np.asarray(X[c], dtype=float) > high[c])
                               for c in cols])
    n = outside.shape[0]
    shares = outside.mean(axis=0) if n else np.zeros(len(cols))
    order = np.argsort(-shares, kind="stable")[:TOP_FEATURES]
    return {"people": int(n), "share_outside_training_range": float(outside.any(axis=1).mean()) if n else 0.0,
            "features_most_outside": [{"feature": cols[i], "share": float(shares[i])} for i in order if shares[i] > 0]}


def model_drift(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig, as_of: date,
                bundle: ModelBundle | None) -> dict | None:
    """Tonight's drift figures for the promoted model; None when no model is promoted.

    `bundle`: the promoted model, loaded by the caller (None when it cannot
    be read: then only the training-range share is measured, and the entry
    says why the period was not re-measured).
    """
    row = con.execute(read_sql(MEASURES_SQL / "promoted_model.sql")).fetchall()
    if not row:
        return None
    version, metrics_json = row[0]
    metrics = json.loads(metrics_json) if metrics_json else {}
    calibrated = metrics.get("calibrated", {})
    out: dict = {
        "model_version": version,
        "at_training": {"period": metrics.get("test_snapshot"), "brier": calibrated.get("brier"),
                        "precision_at_capacity": calibrated.get("precision_at_capacity")},
        "tonight": None,
        "people": None, "share_outside_training_range": None, "features_most_outside": [],
    }
    if bundle is None or bundle.model_version != version:
        out["tonight"] = {"note": "the promoted model's file could not be read: its latest labelled period was not "
                                  "re-measured"}
    else:
        tonight = _measured(con, cfg, as_of, bundle, version)
        if "score_bands" in tonight:
            tonight["score_bands"] = _shown_bands(tonight["score_bands"], cfg.suppression.min_count)
        for key in ("rows", "positives"):
            if key in tonight and _small(tonight[key], cfg.suppression.min_count):
                tonight[key] = None
        out["tonight"] = tonight
    ranges = metrics.get("feature_ranges")
    if not ranges:
        out["note"] = "trained before feature ranges were recorded: retrain to measure drift"
        return out
    out.update(outside_training_range(con, ranges))
    return out


def _measured(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig, as_of: date, bundle: ModelBundle,
              version: str) -> dict:
    """The model's latest re-measurement if it is under `measures.drift_every_days` old, else a new one (kept).

    Rebuilding the features of seven dates is most of the measure stage at
    330,000 people, and the figures move little from one night to the next;
    the entry says which night it was measured on (`measured_on`).
    """
    last = con.execute(read_sql(MEASURES_SQL / "drift_last.sql"), {"model_version": version, "as_of": as_of}).fetchall()
    if last and (as_of - last[0][0]).days < cfg.measures.drift_every_days:
        return {**json.loads(last[0][1]), "measured_on": last[0][0].isoformat()}
    tonight = latest_labelled_period(con, cfg, as_of, bundle)
    run_sql_file(con, MEASURES_SQL / "drift_save.sql",
                 {"model_version": version, "as_of": as_of, "result_json": json.dumps(tonight, sort_keys=True)},
                 step="measure: keep the drift measurement")
    return {**tonight, "measured_on": as_of.isoformat()}

