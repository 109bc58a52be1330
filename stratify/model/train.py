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
figure use the calibration and test snapshots whole. The chosen model is
promoted only if it is fair enough and not worse than the current one
(`promotion_decision`); saving and recording it is `stratify.model.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from stratify.config import PlaceConfig
from stratify.features.build import build_feature_snapshots, drop_intermediates, model_feature_columns
from stratify.model.evaluation import GROUP_COLUMNS, HeldOut, answer_key_precision, evaluate, fairness, reliability, selected_at_capacity
from stratify.model.labels import label_rows, positives_by_rule, rules_met
from stratify.model.registry import ModelBundle, ModelError, load_promoted, register
from stratify.model.score_bands import score_bands
from stratify.rules import required_columns
from stratify.warehouse.database import SQL_DIR, connect, fetch_one, read_sql, run_sql_file


class NoHistoryYet(ModelError):
    """The warehouse holds no loaded, linked people yet: a night (`stratify run`) must load the deliveries first."""


def require_loaded_history(cfg: PlaceConfig) -> None:
    """Raise `NoHistoryYet`, saying what to do, unless a night has loaded and linked people into the warehouse.

    Training reads the warehouse's history (`persons`, `raw_events`), which
    only a night builds: deliveries are validated and loaded by `stratify
    run`, never by training. The warehouse file is not created by asking.
    """
    action = (f"run `stratify run --config {cfg.path}` first (it validates and loads the deliveries in "
              f"{cfg.landing}); then train")
    if not cfg.warehouse.exists():
        raise NoHistoryYet(f"place {cfg.place} has no warehouse yet ({cfg.warehouse}): nothing has been loaded "
                           f"to train on; {action}")
    with connect(cfg) as con:
        linked = fetch_one(con, "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' "
                                "AND table_name = 'persons'")[0]
        people = fetch_one(con, "SELECT count(*) FROM persons")[0] if linked else 0
    if not people:
        raise NoHistoryYet(f"the warehouse {cfg.warehouse} of place {cfg.place} holds no linked people yet "
                           f"(no night has loaded a register): nothing to train on; {action}")


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
    met: list[np.ndarray] = field(default_factory=list)  # per date: (people x rules) bools, cfg.rules order
    # People a team recorded as `wrong_person` (in force at training time): their records are not one
    # person's, so no row of theirs is fitted, calibrated or tested on (they still count as housemates).
    excluded: np.ndarray | None = None


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
        run_sql_file(con, SQL_DIR / "wrong_persons.sql", {"as_of": as_of}, step="model: wrong persons")
        wrong = {p for (p,) in con.execute("SELECT person_id FROM wrong_persons").fetchall()}
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
            if s.excluded is None:  # the same people on every date
                s.excluded = np.fromiter((p in wrong for p in person_ids), dtype=bool, count=len(person_ids))
            s.X.append(np.column_stack([np.ma.filled(cols[c].astype(np.float32), np.nan) for c in s.columns])
                       if s.columns else np.empty((len(person_ids), 0), dtype=np.float32))
            s.met.append(rules_met(pd.DataFrame({c: cols[c] for c in rule_columns}), cfg.rules))
            s.crisis.append(s.met[-1].any(axis=1))
            s.teams.append(pd.Series(cols["team"], dtype=object).fillna("").to_numpy())
            s.groups.append(pd.DataFrame({c: cols[c] for c in GROUP_COLUMNS}))
    return s


def labelled(s: Snapshots, i: int, horizon: int) -> tuple[np.ndarray, HeldOut]:
    """Rows of snapshot i for people not in crisis then, labelled by crisis in the next `horizon` months."""
    keep, y = label_rows(s.crisis, i, horizon, s.excluded)
    held = HeldOut(
        y=y.astype(np.int8), teams=s.teams[i][keep],
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
    require_loaded_history(cfg)
    h = cfg.model.horizon_months
    s = build_snapshots(cfg, as_of)
    split = Split.for_history(len(s.dates), h)
    X_all, y_all = stack(s, split.fit, h)
    X_cal, cal = labelled(s, split.calib, h)
    X_test, test = labelled(s, split.test, h)
    if y_all.sum() < 10 or cal.y.sum() < 2:
        raise ModelError(f"too few people entered crisis in the training history ({int(y_all.sum())}) to train a model")
    reference = np.median(X_all, axis=0).astype(np.float32)  # a typical person, from every fitting row
    # the range each feature took in the fitting rows: a night's people outside it are drift (the measure stage)
    feature_ranges = {"columns": list(s.columns), "low": X_all.min(axis=0).astype(float).tolist(),
                      "high": X_all.max(axis=0).astype(float).tolist()}
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
        "score_bands": score_bands(test.y, score),  # what a score meant on the test snapshot (team pages)
        "reliability": {"calibrated": reliability(test, score),
                        **{n: reliability(test, test_scores[n]) for n in fitted}},
        "feature_ranges": feature_ranges,
        # which crisis rule each positive met at its first crisis snapshot (stratify.model.labels)
        "label_rules": {"fit": positives_by_rule(cfg.rules, s.crisis, s.met, split.fit, h, s.excluded),
                        "test": positives_by_rule(cfg.rules, s.crisis, s.met, [split.test], h, s.excluded)},
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
    bundle = ModelBundle(
        model=model, algorithm=best, feature_columns=tuple(s.columns), reference=reference, horizon_months=h,
        as_of=as_of.isoformat(), data_from=s.dates[0].isoformat(), data_to=s.dates[split.calib + h].isoformat(),
        metrics=metrics,
    )
    current = load_promoted(cfg, strict=False)
    decision = promotion_decision(cfg, metrics, current, X_test, test, s.columns)
    return register(cfg, bundle, decision)


def promotion_decision(cfg: PlaceConfig, metrics: dict, current: ModelBundle | None, X_test: np.ndarray,
                       test: HeldOut, columns: list[str]) -> dict:
    """Promote only if not worse at capacity than the current model on the same test rows, and fair enough."""
    gaps = metrics["fairness"]["largest_gap"]
    too_wide = {m: g for m, g in gaps.items() if g > cfg.model.max_fairness_gap}
    if too_wide:
        return {"promote": False, "why": "largest gap between groups above the bound "
                f"{cfg.model.max_fairness_gap:.2f}: " + ", ".join(f"{m} {g:.2f}" for m, g in too_wide.items())}
    if current is None:
        return {"promote": True, "why": "no model was promoted before"}
    if list(current.feature_columns) != list(columns):
        return {"promote": True, "why": f"the current model {current.model_version} uses other features"}
    old = evaluate(test, current.model.predict_proba(X_test)[:, 1], cfg)["precision_at_capacity"]
    new = metrics["calibrated"]["precision_at_capacity"]
    if new + 1e-9 < old:
        return {"promote": False, "why": f"precision at capacity {new:.3f} is below the current model's "
                                         f"{old:.3f} ({current.model_version}) on the same held-out period"}
    return {"promote": True, "why": f"precision at capacity {new:.3f}, current model {old:.3f}"}
