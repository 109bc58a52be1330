"""Wobbling: the probability that a person not in crisis meets a crisis rule within the horizon.

Training rows are monthly snapshots of the warehouse's own history, built
with the same feature SQL as the nightly run, labelled by whether the person
met a crisis rule at any of the next `horizon_months` monthly snapshots.
Splits are temporal with a gap of one horizon, so no training label overlaps
the test period: fit on the oldest snapshots, calibrate on the snapshot one
horizon before the test snapshot, test on the latest fully-labelled one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from stratify.audit import now_utc, set_model_version
from stratify.config import PlaceConfig
from stratify.context import RunContext
from stratify.describe import describe
from stratify.features import build_feature_table, model_feature_columns
from stratify.rules import crisis_flags
from stratify.stages import write_stage_summary
from stratify.warehouse import connect, fetch_one

MODEL_FORMAT = 1
REASONS_PER_PERSON = 3


class ModelError(RuntimeError):
    """No usable model: the message says whether to train, retrain or wait for more history."""


@dataclass
class Snapshots:
    """Monthly training snapshots: features X, crisis-at-snapshot flags, and the snapshot of each row."""

    dates: list[date]
    person_ids: np.ndarray
    teams: np.ndarray
    X: list[np.ndarray]  # one (people x features) float32 array per date, rows in person_ids order
    crisis: list[np.ndarray]  # one bool array per date
    columns: list[str]


def months_before(d: date, months: int) -> date:
    return (pd.Timestamp(d) - pd.DateOffset(months=months)).date()


def snapshot_dates(as_of: date, history_months: int) -> list[date]:
    """Monthly dates from `history_months` before `as_of` up to `as_of`, oldest first."""
    return [months_before(as_of, k) for k in range(history_months, -1, -1)]


def build_snapshots(cfg: PlaceConfig, as_of: date) -> Snapshots:
    """Feature snapshots for a deterministic sample of people, as history is known at `as_of`."""
    dates = snapshot_dates(as_of, cfg.model.history_months)
    X, crisis = [], []
    with connect(cfg) as con:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE train_persons AS SELECT * FROM persons "
            "ORDER BY hash(person_id || $seed) LIMIT $n",
            {"seed": str(cfg.model.seed), "n": cfg.model.max_training_people},
        )
        columns: list[str] = []
        for d in dates:
            build_feature_table(con, cfg, d, known_at=as_of, target="feat_snapshot", persons="train_persons")
            columns = columns or model_feature_columns(con, "feat_snapshot")
            df = con.execute("SELECT * FROM feat_snapshot ORDER BY person_id").df()
            X.append(df[columns].to_numpy(dtype=np.float32))
            crisis.append(crisis_flags(df, cfg.rules))
        ids = df["person_id"].to_numpy()
        teams = df["team"].fillna("").to_numpy()
    return Snapshots(dates, ids, teams, X, crisis, columns)


def labelled(s: Snapshots, i: int, horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of snapshot i for people not in crisis then, labelled by crisis in the next `horizon` months."""
    future = np.zeros_like(s.crisis[i])
    for k in range(i + 1, i + horizon + 1):
        future |= s.crisis[k]
    keep = ~s.crisis[i]
    return s.X[i][keep], future[keep].astype(np.int8), s.teams[keep]


def stack(s: Snapshots, indices: range, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    parts = [labelled(s, i, horizon) for i in indices]
    return np.vstack([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def candidates(seed: int) -> dict[str, Any]:
    """The models compared: a transparent baseline and gradient-boosted trees."""
    return {
        "logistic_regression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        "hist_gradient_boosting": HistGradientBoostingClassifier(
            max_iter=200, learning_rate=0.08, max_leaf_nodes=31, l2_regularization=1.0, random_state=seed
        ),
    }


def precision_at_capacity(y: np.ndarray, score: np.ndarray, teams: np.ndarray, cfg: PlaceConfig) -> tuple[float, float]:
    """Precision and recall when each team takes its `capacity` highest scores."""
    frame = pd.DataFrame({"y": y, "score": score, "team": teams})
    frame["rank"] = frame.groupby("team")["score"].rank(method="first", ascending=False)
    cap = frame["team"].map(lambda t: cfg.capacity(t))
    chosen = frame[frame["rank"] <= cap]
    tp = chosen["y"].sum()
    precision = float(tp / len(chosen)) if len(chosen) else 0.0
    recall = float(tp / frame["y"].sum()) if frame["y"].sum() else 0.0
    return precision, recall


def evaluate(y: np.ndarray, score: np.ndarray, teams: np.ndarray, cfg: PlaceConfig) -> dict[str, float]:
    p_cap, r_cap = precision_at_capacity(y, score, teams, cfg)
    both = len(np.unique(y)) > 1
    return {
        "auroc": float(roc_auc_score(y, score)) if both else float("nan"),
        "average_precision": float(average_precision_score(y, score)) if both else float("nan"),
        "brier": float(brier_score_loss(y, score)),
        "precision_at_capacity": p_cap,
        "recall_at_capacity": r_cap,
        "positives": int(y.sum()),
        "rows": int(len(y)),
    }


def train_model(cfg: PlaceConfig, as_of: date) -> dict:
    """Train, compare, calibrate, save and register a wobbling model from the warehouse's history."""
    h = cfg.model.horizon_months
    s = build_snapshots(cfg, as_of)
    test_i = len(s.dates) - 1 - h
    calib_i = test_i - h
    if calib_i < 1:
        raise ModelError(
            f"not enough history to train: {len(s.dates)} monthly snapshots, need at least {2 * h + 2} "
            f"(horizon {h} months); raise model.history_months or wait for more deliveries"
        )
    X_fit, y_fit = stack(s, range(0, calib_i), h)
    X_cal, y_cal, _ = labelled(s, calib_i, h)
    X_test, y_test, teams_test = labelled(s, test_i, h)
    if y_fit.sum() < 10 or y_cal.sum() < 2:
        raise ModelError(f"too few people entered crisis in the training history ({int(y_fit.sum())}) to train a model")
    results, fitted = {}, {}
    for name, est in candidates(cfg.model.seed).items():
        est.fit(X_fit, y_fit)
        fitted[name] = est
        results[name] = evaluate(y_test, est.predict_proba(X_test)[:, 1], teams_test, cfg)
    best = max(results, key=lambda n: (results[n]["precision_at_capacity"], results[n]["average_precision"]))
    calibrated = CalibratedClassifierCV(FrozenEstimator(fitted[best]), method="sigmoid").fit(X_cal, y_cal)
    metrics = {
        "chosen": best,
        "candidates": results,
        "calibrated": evaluate(y_test, calibrated.predict_proba(X_test)[:, 1], teams_test, cfg),
        "fit_rows": int(len(y_fit)), "fit_positives": int(y_fit.sum()),
        "test_snapshot": s.dates[test_i].isoformat(), "calibration_snapshot": s.dates[calib_i].isoformat(),
    }
    bundle = {
        "format": MODEL_FORMAT,
        "sklearn_version": sklearn.__version__,
        "model": calibrated,
        "algorithm": best,
        "feature_columns": s.columns,
        "reference": np.median(X_fit, axis=0).astype(np.float32),
        "horizon_months": h,
        "as_of": as_of.isoformat(),
        "data_from": s.dates[0].isoformat(),
        "data_to": s.dates[calib_i + h].isoformat(),
        "metrics": metrics,
    }
    return register(cfg, bundle)


def register(cfg: PlaceConfig, bundle: dict) -> dict:
    """Save a trained bundle and record it; promote it if it is not worse than the current one."""
    digest = hashlib.sha256(json.dumps(bundle["metrics"], sort_keys=True).encode()).hexdigest()[:8]
    version = f"{bundle['as_of'].replace('-', '')}-{bundle['algorithm'][:3]}-{digest}"
    bundle["model_version"] = version
    cfg.models.mkdir(parents=True, exist_ok=True)
    path = cfg.models / f"wobbling-{version}.joblib"
    tmp = path.with_suffix(".tmp")
    joblib.dump(bundle, tmp)
    tmp.replace(path)
    new_p = bundle["metrics"]["calibrated"]["precision_at_capacity"]
    with connect(cfg) as con:
        existing = fetch_one(con, "SELECT promoted FROM models WHERE model_version = $1", [version])
        if existing is not None:  # the same data gave the same model: nothing new to register
            return {"model_version": version, "promoted": existing[0], "path": str(path), "metrics": bundle["metrics"]}
        current = fetch_one(con, "SELECT metrics_json FROM models WHERE promoted")
        promote = current is None or new_p >= json.loads(current[0])["calibrated"]["precision_at_capacity"]
        con.begin()
        if promote:
            con.execute("UPDATE models SET promoted = false WHERE promoted")
        con.execute(
            "INSERT INTO models VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            [version, now_utc(), date.fromisoformat(bundle["as_of"]), date.fromisoformat(bundle["data_from"]),
             date.fromisoformat(bundle["data_to"]), bundle["horizon_months"], bundle["algorithm"], str(path),
             json.dumps(bundle["metrics"], sort_keys=True), promote],
        )
        con.commit()
    return {"model_version": version, "promoted": promote, "path": str(path), "metrics": bundle["metrics"]}


def load_promoted(cfg: PlaceConfig) -> dict | None:
    """The promoted model bundle, None if none was ever trained; errors say what to do."""
    with connect(cfg) as con:
        row = fetch_one(con, "SELECT model_version, path FROM models WHERE promoted")
    if row is None:
        return None
    version, path = row
    if not Path(path).exists():
        raise ModelError(f"the promoted model {version} is missing at {path}; restore it or run `stratify train`")
    try:
        bundle = joblib.load(path)
    except Exception as exc:  # unpickling errors come in many types
        raise ModelError(f"the promoted model {version} at {path} cannot be read ({exc}); run `stratify train`") from exc
    if bundle.get("format") != MODEL_FORMAT or bundle.get("sklearn_version") != sklearn.__version__:
        raise ModelError(
            f"the promoted model {version} was saved by scikit-learn {bundle.get('sklearn_version')} "
            f"(format {bundle.get('format')}); this installation has {sklearn.__version__}: run `stratify train`"
        )
    return bundle


def explain(bundle: dict, rows: pd.DataFrame) -> list[str]:
    """Per-person reasons: the features whose value, against a typical person's, raised the score most.

    Contribution of feature j = score(x) - score(x with x_j set to the
    training median): model-agnostic, computed only for listed people.
    """
    cols = bundle["feature_columns"]
    if rows.empty:
        return []
    X = rows[cols].to_numpy(dtype=np.float32)
    n, k = X.shape
    base = bundle["model"].predict_proba(X)[:, 1]
    occluded = np.repeat(X, k, axis=0)
    idx = np.arange(n * k)
    occluded[idx, idx % k] = np.tile(bundle["reference"], n)
    drop = (base.repeat(k) - bundle["model"].predict_proba(occluded)[:, 1]).reshape(n, k)
    reasons = []
    for i in range(n):
        top = [j for j in np.argsort(-drop[i])[:REASONS_PER_PERSON] if drop[i, j] > 1e-4]
        record = rows.iloc[i].to_dict()
        reasons.append("; ".join(describe(cols[j], record) for j in top) or "a combination of small signals")
    return reasons


def score_wobbling(cfg: PlaceConfig, ctx: RunContext) -> dict:
    """The nightly stage: `scores` for every listable person (training a first model if none)."""
    trained = None
    bundle = load_promoted(cfg)
    if bundle is None:
        trained = train_model(cfg, ctx.as_of)
        bundle = load_promoted(cfg)
    with connect(cfg) as con:
        df = con.execute(
            "SELECT f.*, c.in_crisis, c.crisis_rules, c.crisis_reasons FROM feat_person AS f "
            "JOIN crisis AS c USING (person_id) WHERE NOT f.died AND f.team IS NOT NULL ORDER BY f.person_id"
        ).df()
    missing = set(bundle["feature_columns"]) - set(df.columns)
    if missing:
        raise ModelError(f"model {bundle['model_version']} needs features this warehouse lacks "
                         f"({', '.join(sorted(missing)[:5])}); run `stratify train`")
    scores = score_frame(cfg, bundle, df)
    with connect(cfg) as con:
        con.begin()
        con.register("scores_in", scores)
        con.execute("CREATE OR REPLACE TABLE scores AS SELECT * FROM scores_in")
        con.unregister("scores_in")
        con.commit()
    set_model_version(cfg, ctx, bundle["model_version"])
    summary = {
        "model_version": bundle["model_version"],
        "trained_now": trained is not None,
        "scored": len(scores),
        "crisis": int((scores["tier"] == "crisis").sum()),
        "wobbling": int((scores["tier"] == "wobbling").sum()),
    }
    write_stage_summary(cfg, ctx, "model", summary)
    return summary


def score_frame(cfg: PlaceConfig, bundle: dict, df: pd.DataFrame) -> pd.DataFrame:
    """Tier, score, severity and reasons for each person; reasons only for those a team would see."""
    X = df[bundle["feature_columns"]].to_numpy(dtype=np.float32)
    prob = bundle["model"].predict_proba(X)[:, 1] if len(df) else np.array([])
    crisis = df["in_crisis"].to_numpy(dtype=bool)
    tier = np.where(crisis, "crisis", np.where(prob >= cfg.model.min_wobbling_score, "wobbling", ""))
    out = pd.DataFrame({
        "person_id": df["person_id"].to_numpy(),
        "team": df["team"].to_numpy(),
        "tier": tier,
        # In crisis now: the probability of being in crisis within the horizon is taken as 1.
        "score": np.where(crisis, 1.0, prob).round(4),
        # Orders the crisis tier: rules met, then contacts in 90 days, then domains.
        "severity": (df["crisis_rules"].str.count(";") + (df["crisis_rules"] != "")).to_numpy() * 1_000_000
                    + df[[c for c in df.columns if c.endswith("_events_90d") and not c.startswith("smd_")]].sum(axis=1).to_numpy() * 10
                    + df["smd_domains_365d"].to_numpy(),
        "reasons": df["crisis_reasons"].to_numpy(dtype=object),
    })
    wob = out[out["tier"] == "wobbling"].copy()
    wob["rank"] = wob.groupby("team")["score"].rank(method="first", ascending=False)
    shown = wob[wob["rank"] <= wob["team"].map(cfg.capacity)].index
    out.loc[shown, "reasons"] = explain(bundle, df.loc[shown])
    return out
