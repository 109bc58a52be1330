"""Scoring each distinct decision cell once gives every row exactly the score the model gives it."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression

import stratify.model.predict as predict


def _counts(rng: np.random.Generator, n: int) -> np.ndarray:
    """Count-like features (mostly 0, as most people have no contact), a "days since" column and some missing."""
    X = rng.poisson(0.3, size=(n, 6)).astype(np.float32)
    X[:, 5] = rng.integers(0, 731, size=n)
    X[rng.random(n) < 0.05, 2] = np.nan
    return X


@pytest.fixture(scope="module")
def fitted() -> dict:
    rng = np.random.default_rng(3)
    X = _counts(rng, 4000)
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 2]) + (X[:, 5] < 60) + rng.random(4000) > 1.6).astype(int)
    boosting = HistGradientBoostingClassifier(max_iter=60, max_leaf_nodes=15, random_state=0).fit(X, y)
    return {
        "boosting": boosting,
        "calibrated": CalibratedClassifierCV(FrozenEstimator(boosting), method="sigmoid", ensemble=False).fit(X, y),
        "logistic": LogisticRegression(max_iter=500).fit(np.nan_to_num(X), y),
    }


@pytest.mark.parametrize("name", ["boosting", "calibrated"])
def test_scores_by_cell_equal_the_model_on_every_row_to_the_bit(fitted, name):
    X = _counts(np.random.default_rng(11), 20_000)
    model = fitted[name]
    thresholds = predict.split_thresholds(model)
    assert thresholds, "the trees' thresholds should be readable"
    for feature, edges in thresholds.items():  # values exactly on a threshold go left, like `value <= threshold`
        X[:len(edges), feature] = edges
    first, group = predict.distinct_cells(predict.split_cells(thresholds, X))
    assert len(first) < len(X) / 2  # most rows share a cell: the point of it
    assert np.array_equal(predict.predict_scores(model, X, workers=2), model.predict_proba(X)[:, 1])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(*[st.one_of(st.integers(0, 5), st.just(np.nan))] * 5, st.integers(0, 730)),
                min_size=1, max_size=60))
def test_any_rows_score_as_the_model_scores_them(fitted, rows):
    X = np.array(rows, dtype=np.float32)
    model = fitted["calibrated"]
    assert np.array_equal(predict.predict_scores(model, X), model.predict_proba(X)[:, 1])


def test_rows_whose_hashes_clash_are_told_apart(fitted, monkeypatch):
    X = _counts(np.random.default_rng(5), 3000)
    model = fitted["calibrated"]
    monkeypatch.setattr(predict.pd, "factorize", lambda d: (np.zeros(len(d), dtype=np.int64), None))  # one hash for all
    assert np.array_equal(predict.predict_scores(model, X), model.predict_proba(X)[:, 1])


def test_a_model_that_is_not_trees_is_scored_row_by_row_without_a_fallback(fitted):
    X = np.nan_to_num(_counts(np.random.default_rng(8), 500))
    model = fitted["logistic"]
    assert predict.split_thresholds(model) is None
    # Rows go to the model as float64, whatever they were read as.
    p = predict.predict(model, X)
    assert np.array_equal(p.scores, model.predict_proba(X.astype(np.float64))[:, 1])
    assert not p.by_cell and p.fallback is None  # row by row is a logistic model's only way, not a fall-back


@pytest.mark.parametrize("name", ["boosting", "calibrated"])
def test_the_one_reach_into_scikit_learns_private_trees_works_with_the_installed_version(fitted, name):
    """Fails when scikit-learn changes `_predictors`, `_preprocessor` or its tree nodes: mend `fitted_tree_nodes`."""
    boosting = fitted["boosting"]
    trees = predict.fitted_tree_nodes(boosting)
    assert len(trees) == boosting.n_iter_ * boosting.n_trees_per_iteration_
    assert all(set(predict.NODE_FIELDS) <= set(t.dtype.names) for t in trees)
    assert all((t["is_leaf"] == 0).any() for t in trees)  # every tree splits: thresholds were read
    p = predict.predict(fitted[name], _counts(np.random.default_rng(2), 2000))
    assert p.by_cell and p.fallback is None


def test_trees_that_cannot_be_read_are_scored_row_by_row_and_the_fall_back_is_logged(fitted, caplog, monkeypatch):
    X = _counts(np.random.default_rng(4), 3000)
    model = fitted["calibrated"]
    # As if scikit-learn renamed a field of its tree nodes: the model still predicts, its splits cannot be read.
    monkeypatch.setattr(predict, "NODE_FIELDS", predict.NODE_FIELDS + ("bin_threshold_v2",))
    with caplog.at_level("WARNING", logger="stratify.model.predict"):
        p = predict.predict(model, X)
    assert np.array_equal(p.scores, model.predict_proba(X)[:, 1])
    assert not p.by_cell and "scikit-learn" in p.fallback and "bin_threshold_v2" in p.fallback
    assert any("one by one instead of by decision cell" in r.getMessage() for r in caplog.records)
