"""Drift: how far tonight's people are from what the promoted model was trained on, and how good it was then.

Read from the `models` table's recorded metrics, so no model file is
unpickled: the share of tonight's people with any feature outside the range
it took in the fitting rows (and the features most often outside it), and the
model's calibration (Brier score) and precision at capacity on the latest
labelled period it had, with that period's date. A model trained before
feature ranges were recorded says so.
"""

from __future__ import annotations

import json

import duckdb
import numpy as np

from stratify.measures.inputs import MEASURES_SQL
from stratify.warehouse.sql import read_sql

TOP_FEATURES = 5


def model_drift(con: duckdb.DuckDBPyConnection) -> dict | None:
    """None when no model is promoted."""
    row = con.execute(read_sql(MEASURES_SQL / "promoted_model.sql")).fetchall()
    if not row:
        return None
    version, metrics_json = row[0]
    metrics = json.loads(metrics_json) if metrics_json else {}
    calibrated = metrics.get("calibrated", {})
    out = {"model_version": version, "labelled_period": metrics.get("test_snapshot"),
           "brier": calibrated.get("brier"), "precision_at_capacity": calibrated.get("precision_at_capacity"),
           "people": None, "share_outside_training_range": None, "features_most_outside": []}
    ranges = metrics.get("feature_ranges")
    if not ranges:
        out["note"] = "trained before feature ranges were recorded: retrain to measure drift"
        return out
    have = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = 'feat_person'").fetchall()}
    cols = [c for c in ranges["columns"] if c in have]
    if not cols:
        return out
    X = con.table("feat_person").select(*cols).fetchnumpy()  # the relational API: no SQL text is built
    low = dict(zip(ranges["columns"], ranges["low"]))
    high = dict(zip(ranges["columns"], ranges["high"]))
    outside = np.column_stack([(np.asarray(X[c], dtype=float) < low[c]) | (np.asarray(X[c], dtype=float) > high[c])
                               for c in cols])
    n = outside.shape[0]
    out["people"] = int(n)
    out["share_outside_training_range"] = float(outside.any(axis=1).mean()) if n else 0.0
    shares = outside.mean(axis=0) if n else np.zeros(len(cols))
    order = np.argsort(-shares)[:TOP_FEATURES]
    out["features_most_outside"] = [{"feature": cols[i], "share": float(shares[i])} for i in order if shares[i] > 0]
    return out
