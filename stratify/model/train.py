"""Wobbling: the probability that a person not in crisis meets a crisis rule within the horizon.

Training rows are monthly snapshots of the warehouse's own history, built
with the same feature SQL as the nightly run, labelled by whether the person
met a crisis rule at any of the next `horizon_months` monthly snapshots.
Splits are temporal with a gap of one horizon, so no training label overlaps
the test period: fit on the oldest snapshots, calibrate on the snapshot one
horizon before the test snapshot, test on the latest fully-labelled one.
All snapshots come out of one feature build over every snapshot date; the
fitting rows keep everyone who entered crisis and a weighted share
(`model.fit_negative_share`) of the rest. Calibration and every reported
figure use the calibration and test snapshots whole.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from stratify.config import PlaceConfig
from stratify.features.build import build_feature_snapshots, drop_intermediates, model_feature_columns
from stratify.features.sentences import describe
from stratify.lists.rank import load_outcomes, query_for_people
from stratify.model.card import write_model_card
from stratify.model.compat import record_versions, running_versions
from stratify.model.evaluation import GROUP_COLUMNS, HeldOut, answer_key_precision, evaluate, fairness, reliability, selected_at_capacity
from stratify.model.predict import predict_scores
from stratify.rules import crisis_flags, required_columns
from stratify.run.audit import now_utc, set_model_version
from stratify.run.context import RunContext
from stratify.run.summaries import write_stage_summary
from stratify.warehouse.database import SQL_DIR, connect, fetch_one, read_sql, run_sql_file

MODEL_FORMAT = 1
REASONS_PER_PERSON = 3


class ModelError(RuntimeError):
    """No usable model: the message says whether to train, retrain or wait for more history."""


@dataclass
class Snapshots:
    """Monthly training snapshots for a fixed sample of people, rows in `person_ids` order."""

    dates: list[date]
    person_ids: np.ndarray
    X: list[np.ndarray]  # one (people x features) float32 array per date
    crisis: list[np.ndarray]  # one bool array per date: meets a crisis rule then
    teams: list[np.ndarray]  # per date: the team, as of the latest register
    groups: list[pd.DataFrame]  # per date: sex, age band, ethnic group (for fairness)
    columns: list[str]


def months_before(d: date, months: int) -> date:
    return (pd.Timestamp(d) - pd.DateOffset(months=months)).date()


def snapshot_dates(as_of: date, history_months: int) -> list[date]:
    """Monthly dates from `history_months` before `as_of` up to `as_of`, oldest first."""
    return [months_before(as_of, k) for k in range(history_months, -1, -1)]


def build_snapshots(cfg: PlaceConfig, as_of: date) -> Snapshots:
    """Feature snapshots for a deterministic sample of whole households, as history is known at `as_of`.

    The sample (`model.max_training_people`, 100,000 by default) is everyone
    on most places: people who enter crisis are rare, and on 100,000-person
    synthetic places training on all of them rather than 60,000 raised the
    test precision at capacity by 0.11 and 0.15.

    Every monthly snapshot comes out of one feature build over all the dates
    (`build_feature_snapshots`); each date's rows are then read as numpy
    columns into a float32 matrix (a pandas DataFrame of ~130 columns per
    snapshot cost more than building the features, and Arrow batches kept
    far more memory resident).
    """
    dates = snapshot_dates(as_of, cfg.model.history_months)
    rule_columns = required_columns(cfg.rules)
    s = Snapshots(dates, np.array([], dtype=object), [], [], [], [], [])
    with connect(cfg) as con:
        run_sql_file(con, SQL_DIR / "model_train_persons.sql",
                     {"seed": str(cfg.model.seed), "n": cfg.model.max_training_people}, step="model: training sample")
        build_feature_snapshots(con, cfg, dates, known_at=as_of, target="feat_train", persons="train_persons")
        s.columns = model_feature_columns(con, "feat_train")
        drop_intermediates(con)
        sql = read_sql(SQL_DIR / "model_snapshot_rows.sql")
        for d in dates:
            cols = con.sql(sql, params={"as_of": d}).fetchnumpy()  # masked arrays, one per column
            person_ids = np.asarray(cols["person_id"], dtype=object)
            if s.X and not np.array_equal(person_ids, s.person_ids):
                raise ModelError("training snapshots do not hold the same people on every date; run `stratify train` again")
            s.person_ids = person_ids
            s.X.append(np.column_stack([np.ma.filled(cols[c].astype(np.float32), np.nan) for c in s.columns])
                       if s.columns else np.empty((len(person_ids), 0), dtype=np.float32))
            s.crisis.append(crisis_flags(pd.DataFrame({c: cols[c] for c in rule_columns}), cfg.rules))
            s.teams.append(pd.Series(cols["team"], dtype=object).fillna("").to_numpy())
            s.groups.append(pd.DataFrame({c: cols[c] for c in GROUP_COLUMNS}))
    return s


def labelled(s: Snapshots, i: int, horizon: int) -> tuple[np.ndarray, HeldOut]:
    """Rows of snapshot i for people not in crisis then, labelled by crisis in the next `horizon` months."""
    future = np.zeros_like(s.crisis[i])
    for k in range(i + 1, i + horizon + 1):
        future |= s.crisis[k]
    keep = ~s.crisis[i]
    held = HeldOut(
        y=future[keep].astype(np.int8), teams=s.teams[i][keep],
        groups=s.groups[i][keep].reset_index(drop=True), person_ids=s.person_ids[keep],
    )
    return s.X[i][keep], held


def stack(s: Snapshots, indices: range, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    parts = [labelled(s, i, horizon) for i in indices]
    return np.vstack([p[0] for p in parts]), np.concatenate([p[1].y for p in parts])


MIN_FIT_NEGATIVES = 50_000  # below this many rows that did not enter crisis, fit on every row
# At most this many rows that did not enter crisis are fitted on: 100,000 people keep the default
# `fit_negative_share` of 0.35 (about 410,000); more people, or a higher share, keep the same number,
# so fitting time stays bounded while every row that entered crisis still counts.
MAX_FIT_NEGATIVES = 420_000


def sample_negatives(X: np.ndarray, y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every row that entered crisis, and a seeded `share` of the others weighted 1/share.

    About 0.25% of fitting rows enter crisis; the rest cost fitting time in
    proportion to their number but add little once a third of them are in
    (keeping 0.15 instead of 0.35 of them lost 0.02 of precision at capacity
    on a 100,000-person place). The weights keep the base rate, and the
    chosen model is calibrated on the untouched calibration snapshot anyway.
    A small place keeps at least `MIN_FIT_NEGATIVES` of them (its fitting is
    quick; its signal is thin), a large one at most `MAX_FIT_NEGATIVES`.
    """
    negatives = int((y == 0).sum())
    if negatives:
        share = min(share, MAX_FIT_NEGATIVES / negatives)
    share = max(share, min(1.0, MIN_FIT_NEGATIVES / negatives)) if negatives else 1.0
    if share >= 1:
        return X, y, np.ones(len(y))
    keep = (y == 1) | (np.random.default_rng(seed).random(len(y)) < share)
    return X[keep], y[keep], np.where(y[keep] == 1, 1.0, 1.0 / share)


def fit_weighted(est: Any, X: np.ndarray, y: np.ndarray, w: np.ndarray) -> Any:
    """`est.fit` with sample weights, routed to every step that takes them when `est` is a pipeline."""
    if isinstance(est, Pipeline):
        return est.fit(X, y, **{f"{name}__sample_weight": w for name, _ in est.steps})
    return est.fit(X, y, sample_weight=w)


def candidates(seed: int) -> dict[str, Any]:
    """The models compared: a transparent baseline and gradient-boosted trees."""
    return {
        "logistic_regression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        # Slow learning with small, well-populated leaves: on a 100,000-person synthetic place this reached
        # a precision at capacity of 0.573 against 0.500 for (150 iterations, rate 0.08, 31 leaves).
        "hist_gradient_boosting": HistGradientBoostingClassifier(
            max_iter=400, learning_rate=0.03, max_leaf_nodes=15, min_samples_leaf=50, l2_regularization=1.0,
            random_state=seed,
        ),
    }


def choose_candidate(on_calib: dict[str, dict], selected: int) -> str:
    """The candidate to promote: the best average precision among those near the best precision at capacity.

    Precision at capacity on the calibration snapshot counts only the
    `selected` people the teams can see (about 150 on a 100,000-person
    place): its binomial standard error (about 0.04 there) is larger than
    most gaps between candidates, so a candidate within one standard error
    of the best is as good at capacity as far as this snapshot can tell.
    Among those, average precision, which scores the whole ranking and so
    varies less, decides. (On one 100,000-person synthetic place the
    logistic baseline led boosting at capacity by 0.007 on calibration and
    trailed it by 0.03 in average precision there.)
    """
    top = max(m["precision_at_capacity"] for m in on_calib.values())
    se = float(np.sqrt(top * (1 - top) / max(selected, 1)))
    near = [n for n, m in on_calib.items() if m["precision_at_capacity"] >= top - se]
    return max(near, key=lambda n: (on_calib[n]["average_precision"], on_calib[n]["precision_at_capacity"]))


@dataclass
class Split:
    """Temporal split with a gap of one horizon between fitting labels and test labels.

    fit: snapshots [0, calib); calibrate and choose: snapshot calib (its labels
    end where the test snapshot starts); test: snapshot test = last one whose
    horizon is fully observed.
    """

    fit: range
    calib: int
    test: int

    @classmethod
    def for_history(cls, n_snapshots: int, horizon: int) -> Split:
        test = n_snapshots - 1 - horizon
        calib = test - horizon
        if calib < 1:
            raise ModelError(
                f"not enough history to train: {n_snapshots} monthly snapshots, need at least {2 * horizon + 2} "
                f"(horizon {horizon} months); raise model.history_months or wait for more deliveries"
            )
        return cls(range(0, calib), calib, test)


def train_model(cfg: PlaceConfig, as_of: date, answer_key: Path | None = None) -> dict:
    """Train, compare, calibrate, evaluate, save and register a wobbling model.

    Both candidates are fitted on the oldest snapshots; the one with the best
    precision at capacity on the calibration snapshot (near-ties within its
    sampling error broken by average precision: `choose_candidate`) is chosen
    and calibrated there; every figure reported is on the later, untouched test snapshot.
    `answer_key` (synthetic places only) adds the ceiling any model could reach.
    """
    # scikit-learn's OpenMP/BLAS pools sized like DuckDB's: more threads than cores only spin.
    with threadpool_limits(limits=cfg.duckdb.threads):
        return _train_model(cfg, as_of, answer_key)


def _train_model(cfg: PlaceConfig, as_of: date, answer_key: Path | None) -> dict:
    h = cfg.model.horizon_months
    s = build_snapshots(cfg, as_of)
    split = Split.for_history(len(s.dates), h)
    X_all, y_all = stack(s, split.fit, h)
    X_cal, cal = labelled(s, split.calib, h)
    X_test, test = labelled(s, split.test, h)
    if y_all.sum() < 10 or cal.y.sum() < 2:
        raise ModelError(f"too few people entered crisis in the training history ({int(y_all.sum())}) to train a model")
    reference = np.median(X_all, axis=0).astype(np.float32)  # a typical person, from every fitting row
    X_fit, y_fit, w_fit = sample_negatives(X_all, y_all, cfg.model.fit_negative_share, cfg.model.seed)
    del X_all
    fitted, on_calib, on_test, test_scores = {}, {}, {}, {}
    for name, est in candidates(cfg.model.seed).items():
        fitted[name] = fit_weighted(est, X_fit, y_fit, w_fit)
        test_scores[name] = est.predict_proba(X_test)[:, 1]  # kept: predicting 400 trees is not free
        on_calib[name] = evaluate(cal, est.predict_proba(X_cal)[:, 1], cfg)
        on_test[name] = evaluate(test, test_scores[name], cfg)
    selected = int(selected_at_capacity(np.zeros(len(cal.y)), cal.teams, cfg).sum())
    best = choose_candidate(on_calib, selected)
    model = CalibratedClassifierCV(FrozenEstimator(fitted[best]), method="sigmoid", ensemble=False).fit(X_cal, cal.y)
    score = model.predict_proba(X_test)[:, 1]
    metrics = {
        "chosen": best,
        "chosen_on": "average precision on the calibration snapshot, among the candidates whose precision at "
                     "capacity there is within one standard error of the best",
        "candidates": on_test,
        "candidates_on_calibration": {n: {k: m[k] for k in ("precision_at_capacity", "average_precision")}
                                      for n, m in on_calib.items()},
        "calibration_selected": selected,
        "calibrated": evaluate(test, score, cfg),
        "fairness": fairness(test, score, cfg),
        "reliability": {"calibrated": reliability(test, score),
                        **{n: reliability(test, test_scores[n]) for n in fitted}},
        "fit_rows": int(len(y_all)), "fit_positives": int(y_all.sum()),
        "fit_rows_sampled": int(len(y_fit)),
        "fit_snapshots": [s.dates[split.fit.start].isoformat(), s.dates[split.fit.stop - 1].isoformat()],
        "calibration_snapshot": s.dates[split.calib].isoformat(),
        "test_snapshot": s.dates[split.test].isoformat(),
    }
    if answer_key is not None:
        key = answer_key_precision(test, pd.read_parquet(answer_key), cfg, on=s.dates[split.test])
        ceiling = key["precision_at_capacity"]
        metrics["answer_key"] = {
            **key, "model_share": metrics["calibrated"]["precision_at_capacity"] / ceiling if ceiling else None,
        }
    bundle = {
        "format": MODEL_FORMAT,
        "sklearn_version": sklearn.__version__,
        "package_versions": running_versions(),  # stratify.model.compat checks them before each night
        "model": model,
        "algorithm": best,
        "feature_columns": s.columns,
        "reference": reference,
        "horizon_months": h,
        "as_of": as_of.isoformat(),
        "data_from": s.dates[0].isoformat(),
        "data_to": s.dates[split.calib + h].isoformat(),
        "metrics": metrics,
    }
    current = load_promoted(cfg, strict=False)
    decision = promotion_decision(cfg, metrics, current, X_test, test, s.columns)
    return register(cfg, bundle, decision)


def promotion_decision(cfg: PlaceConfig, metrics: dict, current: dict | None, X_test: np.ndarray,
                       test: HeldOut, columns: list[str]) -> dict:
    """Promote only if not worse at capacity than the current model on the same test rows, and fair enough."""
    gaps = metrics["fairness"]["largest_gap"]
    too_wide = {m: g for m, g in gaps.items() if g > cfg.model.max_fairness_gap}
    if too_wide:
        return {"promote": False, "why": "largest gap between groups above the bound "
                f"{cfg.model.max_fairness_gap:.2f}: " + ", ".join(f"{m} {g:.2f}" for m, g in too_wide.items())}
    if current is None:
        return {"promote": True, "why": "no model was promoted before"}
    if current["feature_columns"] != columns:
        return {"promote": True, "why": f"the current model {current['model_version']} uses other features"}
    old = evaluate(test, current["model"].predict_proba(X_test)[:, 1], cfg)["precision_at_capacity"]
    new = metrics["calibrated"]["precision_at_capacity"]
    if new + 1e-9 < old:
        return {"promote": False, "why": f"precision at capacity {new:.3f} is below the current model's "
                                         f"{old:.3f} ({current['model_version']}) on the same held-out period"}
    return {"promote": True, "why": f"precision at capacity {new:.3f}, current model {old:.3f}"}


def register(cfg: PlaceConfig, bundle: dict, decision: dict) -> dict:
    """Save a trained bundle and its model card, record it, and promote it if `decision` says so."""
    digest = hashlib.sha256(json.dumps(bundle["metrics"], sort_keys=True).encode()).hexdigest()[:8]
    version = f"{bundle['as_of'].replace('-', '')}-{bundle['algorithm'][:3]}-{digest}"
    bundle["model_version"] = version
    bundle["promotion"] = decision
    cfg.models.mkdir(parents=True, exist_ok=True)
    path = cfg.models / f"wobbling-{version}.joblib"
    tmp = path.with_suffix(".tmp")
    joblib.dump(bundle, tmp)
    tmp.replace(path)
    record_versions(path, bundle.get("package_versions"))  # beside the bundle, read before a night without unpickling
    card = write_model_card(cfg, bundle, path.with_suffix(".html"))
    result = {"model_version": version, "promoted": decision["promote"], "why": decision["why"],
              "path": str(path), "model_card": str(card), "metrics": bundle["metrics"]}
    with connect(cfg) as con:
        existing = fetch_one(con, "SELECT promoted FROM models WHERE model_version = $1", [version])
        if existing is not None:  # the same data gave the same model: nothing new to register
            return {**result, "promoted": existing[0], "why": "already registered"}
        con.begin()
        if decision["promote"]:
            con.execute("UPDATE models SET promoted = false WHERE promoted")
        con.execute(
            "INSERT INTO models VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            [version, now_utc(), date.fromisoformat(bundle["as_of"]), date.fromisoformat(bundle["data_from"]),
             date.fromisoformat(bundle["data_to"]), bundle["horizon_months"], bundle["algorithm"], str(path),
             json.dumps(bundle["metrics"], sort_keys=True), decision["promote"]],
        )
        con.commit()
    return result


def load_promoted(cfg: PlaceConfig, strict: bool = True) -> dict | None:
    """The promoted model bundle, None if none was ever trained; errors say what to do.

    With `strict=False` an unusable promoted model counts as none (training
    a replacement must not fail because the old one cannot be read).
    """
    with connect(cfg) as con:
        row = fetch_one(con, "SELECT model_version, path FROM models WHERE promoted")
    if row is None:
        return None
    version, path = row
    try:
        return read_bundle(version, Path(path))
    except ModelError:
        if strict:
            raise
        return None


def read_bundle(version: str, path: Path) -> dict:
    """Load a saved model, refusing one this installation cannot use."""
    if not path.exists():
        raise ModelError(f"the promoted model {version} is missing at {path}; restore it or run `stratify train`")
    try:
        bundle = joblib.load(path)
    except Exception as exc:  # unpickling errors come in many types
        raise ModelError(f"the promoted model {version} at {path} cannot be read ({exc}); run `stratify train`") from exc
    if not isinstance(bundle, dict) or bundle.get("format") != MODEL_FORMAT or bundle.get("sklearn_version") != sklearn.__version__:
        got = bundle.get("sklearn_version") if isinstance(bundle, dict) else "unknown"
        fmt = bundle.get("format") if isinstance(bundle, dict) else "unknown"
        raise ModelError(
            f"the promoted model {version} at {path} was saved by scikit-learn {got} in model format {fmt}; "
            f"this installation has scikit-learn {sklearn.__version__} and reads model format {MODEL_FORMAT}: "
            "run `stratify train`"
        )
    return bundle


def explain(bundle: dict, rows: pd.DataFrame) -> list[str]:
    """Per-person reasons: the features whose value, against a typical person's, raised the score most.

    Contribution of feature j = score(x) - score(x with x_j set to the
    training median): model-agnostic, computed only for listed people.
    Where x_j already is the median, the occluded row is x itself and its
    contribution is exactly 0, so only the other rows are predicted (most
    counts of most people are the median's 0).
    """
    cols = bundle["feature_columns"]
    if rows.empty:
        return []
    X = rows[cols].to_numpy(dtype=np.float32)
    n, k = X.shape
    base = predict_scores(bundle["model"], X)
    reference = np.asarray(bundle["reference"], dtype=np.float32)
    person, feature = np.nonzero(X != reference)
    occluded = X[person]
    occluded[np.arange(len(person)), feature] = reference[feature]
    drop = np.zeros((n, k))
    drop[person, feature] = base[person] - predict_scores(bundle["model"], occluded)
    reasons = []
    for i, record in enumerate(rows.to_dict("records")):
        top = [j for j in np.argsort(-drop[i])[:REASONS_PER_PERSON] if drop[i, j] > 1e-4]
        reasons.append("; ".join(describe(cols[j], record) for j in top) or "a combination of small signals")
    return reasons


# A person's tier in `scores`: in crisis, wobbling, or neither.
TIERS = pa.array(["crisis", "wobbling", ""], pa.string())
# Columns of the crisis table that scoring reads beside the features.
CRISIS_COLUMNS = ("in_crisis", "crisis_rules", "crisis_reasons")


def contact_columns(columns) -> list[str]:
    """The feature columns counting contacts in 90 days per agency and event type (SMD domain counts excluded)."""
    return [c for c in columns if c.endswith("_events_90d") and not c.startswith("smd_")]


def severity_columns(columns) -> list[str]:
    """The feature columns the crisis tier's severity adds up: contacts in 90 days, and SMD domains."""
    return contact_columns(columns) + ["smd_domains_365d"]


@dataclass
class ScoringRows:
    """Everyone listable tonight (in no particular order): the columns scoring needs, and the model's features as float32."""

    frame: pd.DataFrame  # person_id, team, household_id, CRISIS_COLUMNS, severity_columns
    X: np.ndarray | None  # (people x model features), None without a model


def load_scoring_rows(con, bundle: dict | None) -> ScoringRows:
    """Read only the columns scoring needs, the features through Arrow straight into one float32 matrix.

    Reading all of `feat_person` (about 130 columns) into pandas and then
    picking the features cost more than predicting used to. Only the few
    people a team will see are read whole, for their reasons (`load_explain_rows`).
    """
    available = model_feature_columns(con)
    features = list(bundle["feature_columns"]) if bundle is not None else []
    missing = set(features) - set(available)
    if missing:
        raise ModelError(f"model {bundle['model_version']} needs features this warehouse lacks "
                         f"({', '.join(sorted(missing)[:5])}); run `stratify train`")
    wanted = sorted(set(features) | set(severity_columns(available)))
    table = con.sql(read_sql(SQL_DIR / "score_rows.sql"), params={"columns": wanted}).to_arrow_table()
    narrow = ["person_id", "team", "household_id", *CRISIS_COLUMNS, *severity_columns(available)]
    frame = table.select(narrow).to_pandas()
    X = None
    if bundle is not None:
        X = np.empty((table.num_rows, len(features)), dtype=np.float32, order="F")  # filled a column at a time
        for j, name in enumerate(features):
            X[:, j] = table.column(name).to_numpy()
    return ScoringRows(frame, X)


def load_explain_rows(con, person_ids) -> pd.DataFrame:
    """Whole feature rows (and crisis columns) of these people, in person order: what `explain` describes."""
    return query_for_people(con, person_ids, "list_explain_rows.sql")


def score_wobbling(cfg: PlaceConfig, ctx: RunContext) -> dict:
    """The nightly stage: `scores` for every listable person (training a first model if none).

    If no model can be promoted (the first one trained was held back, e.g.
    for a fairness gap), the lists carry the crisis tier only and the run's
    summary says why; a biased model is never used just to fill a list.
    A night that trains records the seconds it spent training
    (`training_s`), so that a first load's figures can tell training from the rest.
    """
    trained, untrainable, training_s = None, None, None
    bundle = load_promoted(cfg)
    if bundle is None:
        started = time.perf_counter()
        try:
            trained = train_model(cfg, ctx.as_of)
        except ModelError as exc:  # e.g. too little history yet: crisis rules still work
            untrainable = str(exc)
        training_s = round(time.perf_counter() - started, 2)
        bundle = load_promoted(cfg)
    outcomes = load_outcomes(cfg, ctx.as_of) if bundle is not None else None
    with connect(cfg) as con:
        rows = load_scoring_rows(con, bundle)
        with threadpool_limits(limits=cfg.duckdb.threads):
            scores = score_frame(cfg, bundle, rows.frame, rows.X)
            shown = shown_wobbling(cfg, scores, rows.frame["household_id"], outcomes, ctx.as_of)
            if len(shown):
                rows_shown = load_explain_rows(con, scores.loc[shown, "person_id"])
                why = dict(zip(rows_shown["person_id"], explain(bundle, rows_shown)))
                scores.loc[shown, "reasons"] = scores.loc[shown, "person_id"].map(why).to_numpy(dtype=object)
        con.begin()
        con.register("scores_in", scores)
        con.execute("CREATE OR REPLACE TABLE scores AS SELECT * FROM scores_in")
        con.unregister("scores_in")
        con.commit()
    summary = {
        "model_version": bundle["model_version"] if bundle else None,
        "trained_now": trained is not None,
        "scored": len(scores),
        "crisis": int((scores["tier"] == "crisis").sum()),
        "wobbling": int((scores["tier"] == "wobbling").sum()),
    }
    if training_s is not None:
        summary["training_s"] = training_s
    if untrainable:
        summary["warning"] = f"no wobbling model could be trained ({untrainable}); lists show the crisis tier only."
    elif bundle is None:
        summary["warning"] = (
            f"no promoted wobbling model: the model trained tonight ({trained['model_version']}) was held back "
            f"({trained['why']}); lists show the crisis tier only. See {trained['model_card']}."
        )
    else:
        set_model_version(cfg, ctx, bundle["model_version"])
    write_stage_summary(cfg, ctx, "model", summary)
    return summary


def score_frame(cfg: PlaceConfig, bundle: dict | None, df: pd.DataFrame, X: np.ndarray | None = None) -> pd.DataFrame:
    """Tier, score and severity for each person; reasons of those in crisis (wobbling reasons: `explain`).

    `df` holds person_id, team, in_crisis, crisis_rules, crisis_reasons and
    the severity's columns; `X` the model's features of the same rows
    (taken from `df` when not given).
    """
    prob = np.zeros(len(df))  # no usable model: nobody is wobbling, crisis people still score 1
    if bundle is not None and len(df):
        if X is None:
            X = df[bundle["feature_columns"]].to_numpy(dtype=np.float32)
        prob = predict_scores(bundle["model"], X, workers=cfg.duckdb.threads)
    crisis = df["in_crisis"].to_numpy(dtype=bool)
    tier = np.where(crisis, 0, np.where(prob >= cfg.model.min_wobbling_score, 1, 2)).astype(np.int8)
    # Columns stay Arrow strings (pandas' own); a round trip through Python str objects cost ~3 s at 3M people.
    return pd.DataFrame({
        "person_id": df["person_id"].array,
        "team": df["team"].array,
        "tier": pd.array(TIERS.take(tier), dtype="str"),
        # In crisis now: the probability of being in crisis within the horizon is taken as 1.
        "score": np.where(crisis, 1.0, prob).round(4),
        # Orders the crisis tier: rules met, then contacts in 90 days, then domains.
        "severity": (df["crisis_rules"].str.count(";") + (df["crisis_rules"] != "")).to_numpy() * 1_000_000
                    + df[contact_columns(df.columns)].sum(axis=1).to_numpy() * 10
                    + df["smd_domains_365d"].to_numpy(),
        "reasons": df["crisis_reasons"].astype("str").array,
    })


def shown_wobbling(cfg: PlaceConfig, scores: pd.DataFrame, household: pd.Series | None = None,
                   outcomes: pd.DataFrame | None = None, as_of: date | None = None) -> pd.Index:
    """The wobbling people a team may see tonight, to explain while the model is loaded.

    Each team's top `capacity` by score; and, since the lists move people
    with a recent status outcome to "already working with" or "snoozed" and
    pull whole households in, also those people, the next ones by score in
    their place, and the wobbling members of the households of each team's
    leading people. A superset costs a few predictions; a person the lists
    still show unexplained is explained in publish, which must first load
    scikit-learn and the model (about 1.5 s).
    `household` (aligned to `scores`), `outcomes` (`lists.load_outcomes`)
    and `as_of` widen the set; without them it is the top `capacity` only.
    """
    moved: set = set()  # people a recent status outcome moves off the ranked list, freeing a place each
    if outcomes is not None and as_of is not None and len(outcomes):
        days = max(cfg.lists.already_working_days, cfg.lists.snooze_days)
        age = (pd.Timestamp(as_of) - pd.to_datetime(outcomes["status_date"])).dt.days
        moved = set(outcomes.loc[outcomes["status_outcome"].notna() & (age < days), "person_id"])
    wob = scores.loc[scores["tier"] == "wobbling", ["person_id", "team", "score"]]
    chosen = _reaching_a_list(cfg, wob, "score", moved)
    if household is None:
        return chosen
    crisis = scores.loc[scores["tier"] == "crisis", ["person_id", "team", "severity"]]
    leaders = chosen.union(_reaching_a_list(cfg, crisis, "severity", moved))
    homes = household.loc[leaders].dropna()
    led = set(zip(scores.loc[homes.index, "team"], homes))
    near = wob.index[household.loc[wob.index].isin(homes.unique())]  # wobbling people sharing a leader's household id
    members = [i for i, team, home in zip(near, scores.loc[near, "team"], household.loc[near]) if (team, home) in led]
    return chosen.union(pd.Index(members, dtype=chosen.dtype))


def _reaching_a_list(cfg: PlaceConfig, rows: pd.DataFrame, by: str, moved: set) -> pd.Index:
    """Rows of one tier that may be shown: each team's top `capacity` by `by`, one more per person of
    the tier that an outcome moves to a section (freeing a place), and those people themselves."""
    off = rows["person_id"].isin(moved)
    ordered = rows.sort_values([by, "person_id"], ascending=[False, True])  # ties go to the smaller pseudonym
    rank = ordered.groupby("team").cumcount().add(1).reindex(rows.index)
    return rows.index[(rank <= _capacities(cfg, rows["team"]) + off.groupby(rows["team"]).transform("sum")) | off]


def _capacities(cfg: PlaceConfig, teams: pd.Series) -> pd.Series:
    """Each row's team capacity (looked up once per team, not once per row)."""
    return teams.map({t: cfg.capacity(t) for t in teams.unique()}).astype("int64")
