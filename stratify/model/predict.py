"""Scoring many people with a fitted model: each distinct decision path once, in cache-sized blocks on threads.

Why: predicting 400 trees for every listable person is most of a night's
scoring (about 4 CPU s at 330,000 people, 70 at 3,000,000). A tree sends a
row left or right by `value <= threshold` alone, so two rows whose values
lie between the same pair of neighbouring thresholds of every feature the
trees split on (and are missing in the same features) reach the same leaf
of every tree, and the model gives them the same score to the bit. Most
people share such a "cell" with many others (no contact with an agency in
a window is the common case), so only one row per distinct cell is
predicted: about 40% of the rows at 330,000 people.

That needs the split thresholds, which scikit-learn keeps in the fitted
gradient-boosting model's `_predictors` (not public API). `fitted_tree_nodes`
is the one function that reaches into it; it checks what it reads against
the model's public attributes and raises `FastPathUnavailable` when the
library's internals are not what it knows. Only the model shapes known to
be trees are read (a `HistGradientBoostingClassifier`, alone or inside a
calibrated `FrozenEstimator`); any other model (the logistic baseline) is
predicted row by row, which is its only way. A tree model whose trees cannot
be read is predicted row by row too, and that fall-back is logged as a
warning and reported (`Prediction.fallback`; the score stage counts it in
its summary), never silent. `tests/test_predict.py` checks the hook on the
installed scikit-learn and that the scores equal one plain `predict_proba`
of every row, to the bit.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from threadpoolctl import threadpool_limits

# Rows per predict call. Each tree reads a few feature columns of every row, so the rows are handed over
# column-major: row-major blocks cost 5 to 6 CPU s at 330,000 people, one column-major matrix 4.2 to 4.6,
# column-major blocks of 16,384 rows (16 MB) 3.5 to 3.9, and two worker threads (below) brought the wall time
# from 3.5-4.3 s to 1.9-2.2 s. Rows are predicted independently, so the scores are the same to the bit.
PREDICT_ROWS = 16384
# Rows compared at a time when checking that rows grouped by hash really share a cell (bounds the temporary).
CHECK_ROWS = 1 << 18
# The fields of a fitted tree's node array that the decision cells are read from.
NODE_FIELDS = ("is_leaf", "is_categorical", "feature_idx", "num_threshold")

log = logging.getLogger(__name__)


class FastPathUnavailable(RuntimeError):
    """A tree model's splits cannot be read (scikit-learn's internals changed, or an unsupported kind of split)."""


@dataclass(frozen=True)
class Prediction:
    """Scores of every row, and how they were computed."""

    scores: np.ndarray
    by_cell: bool  # one prediction per distinct decision cell (the fast path)
    fallback: str | None = None  # why a tree model was predicted row by row instead; None if it was not


def _boosting(model: Any) -> HistGradientBoostingClassifier | None:
    """The gradient-boosting model whose trees decide `model`'s scores, if it is a shape known to be one.

    None for a model that is not trees. A calibrated model whose fitted
    estimator cannot be found where this scikit-learn is known to keep it
    raises `FastPathUnavailable` (it may well be trees).
    """
    if isinstance(model, HistGradientBoostingClassifier):
        return model
    if isinstance(model, CalibratedClassifierCV) and len(getattr(model, "calibrated_classifiers_", ())) == 1:
        inner = getattr(model.calibrated_classifiers_[0], "estimator", None)
        if inner is None:
            raise FastPathUnavailable(f"scikit-learn {sklearn.__version__} keeps a calibrated model's estimator "
                                      "elsewhere (no `calibrated_classifiers_[0].estimator`)")
        inner = inner.estimator if isinstance(inner, FrozenEstimator) else inner
        return inner if isinstance(inner, HistGradientBoostingClassifier) else None
    return None


def fitted_tree_nodes(boosting: HistGradientBoostingClassifier) -> list[np.ndarray]:
    """Every fitted tree's node array: the one place stratify reads scikit-learn's private API.

    Reads `_preprocessor` (None unless the model encodes categorical
    features), `_predictors` (per boosting iteration, one `TreePredictor` per
    class) and each predictor's `nodes` (a structured array with
    `NODE_FIELDS`), and checks the trees found against the public
    `n_iter_` and `n_trees_per_iteration_`. Raises `FastPathUnavailable`
    saying what differs, with the scikit-learn version, if any of it changed.
    """
    where = f"scikit-learn {sklearn.__version__}"
    try:
        if boosting._preprocessor is not None:
            raise FastPathUnavailable("the model encodes categorical features, whose splits are not thresholds")
        trees = [tree.nodes for iteration in boosting._predictors for tree in iteration]
    except (AttributeError, TypeError) as exc:
        raise FastPathUnavailable(f"{where} keeps its fitted trees differently ({exc})") from exc
    expected = boosting.n_iter_ * boosting.n_trees_per_iteration_
    if len(trees) != expected:
        raise FastPathUnavailable(f"{where}: {len(trees)} fitted trees found in `_predictors`, {expected} expected")
    for nodes in trees:
        missing = [f for f in NODE_FIELDS if f not in (getattr(getattr(nodes, "dtype", None), "names", None) or ())]
        if missing:
            raise FastPathUnavailable(f"{where}: a fitted tree's nodes lack the fields {', '.join(missing)}")
    return trees


def split_thresholds(model: Any) -> dict[int, np.ndarray] | None:
    """Per feature column the trees split on, its sorted distinct thresholds; None if `model` is not trees.

    Raises `FastPathUnavailable` when it is a tree model whose splits cannot be read.
    """
    boosting = _boosting(model)
    if boosting is None:
        return None
    found: dict[int, set[float]] = {}
    for tree in fitted_tree_nodes(boosting):
        nodes = tree[tree["is_leaf"] == 0]
        if nodes["is_categorical"].any():
            raise FastPathUnavailable("the trees split on categories, not thresholds")
        for feature, threshold in zip(nodes["feature_idx"].tolist(), nodes["num_threshold"].tolist()):
            found.setdefault(feature, set()).add(threshold)
    return {f: np.array(sorted(t), dtype=np.float64) for f, t in sorted(found.items())}


def split_cells(thresholds: dict[int, np.ndarray], X: np.ndarray, workers: int = 1) -> np.ndarray:
    """Per row and split feature, which interval between thresholds its value lies in (missing: the last code).

    `searchsorted(..., side="left")` counts the thresholds below the value,
    so a value equal to a threshold lands with those below it, as
    `value <= threshold` sends it left. Rows are laid out whole (row-major)
    and padded to whole 8-byte words, which `distinct_cells` hashes and
    compares a word at a time; columns are searched on `workers` threads.
    """
    widest = max((len(t) for t in thresholds.values()), default=0)
    dtype = np.dtype(np.uint8 if widest < 255 else np.uint16)
    width = -(-len(thresholds) * dtype.itemsize // 8) * 8 // dtype.itemsize
    cells = np.zeros((len(X), width), dtype=dtype)
    missing = np.iinfo(dtype).max

    def fill(j: int, feature: int, edges: np.ndarray) -> None:
        column = X[:, feature]
        cells[:, j] = np.searchsorted(edges, column, side="left")
        cells[np.isnan(column), j] = missing

    with ThreadPoolExecutor(max(1, workers)) as pool:
        list(pool.map(fill, range(len(thresholds)), thresholds.keys(), thresholds.values()))
    return cells


def distinct_cells(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(`first`, `group`): row `i` shares its cell with row `first[group[i]]`; every row is checked, not trusted to a hash."""
    words = np.ascontiguousarray(cells).view(np.uint64)
    digest = np.zeros(len(words), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(words.shape[1]):
            digest = (digest ^ words[:, j]) * np.uint64(0x9E3779B97F4A7C15)
            digest ^= digest >> np.uint64(29)
    group, _ = pd.factorize(digest)
    _, first = np.unique(group, return_index=True)
    group = group.astype(np.int64)
    clash = np.zeros(len(words), dtype=bool)  # a hash shared by two different cells: such rows stand alone
    for start in range(0, len(words), CHECK_ROWS):
        rows = slice(start, start + CHECK_ROWS)
        clash[rows] = (words[rows] != words[first[group[rows]]]).any(axis=1)
    if clash.any():
        alone = np.flatnonzero(clash)
        group[alone] = len(first) + np.arange(len(alone))
        first = np.concatenate([first, alone])
    return first, group


def _one_openmp_thread() -> None:
    threadpool_limits(limits=1, user_api="openmp")  # this worker thread's own OpenMP setting, kept until it ends


def predict_rows(model: Any, X: np.ndarray, workers: int = 1) -> np.ndarray:
    """The model's probability of the positive class for every row of X, a block of rows at a time.

    Blocks are shared among `workers` threads, each predicting with one
    OpenMP thread (the trees' loops run without the GIL, so threads overlap);
    with OpenMP's threads splitting each block instead, every one of the 400
    trees per block wakes the other thread for a short piece of work.
    """
    if len(X) == 0:
        return np.zeros(0)

    def block(start: int) -> np.ndarray:
        rows = np.asfortranarray(X[start:start + PREDICT_ROWS], dtype=np.float64)
        return model.predict_proba(rows)[:, 1]

    with ThreadPoolExecutor(max(1, workers), initializer=_one_openmp_thread) as pool:
        return np.concatenate(list(pool.map(block, range(0, len(X), PREDICT_ROWS))))


def predict(model: Any, X: np.ndarray, workers: int = 1) -> Prediction:
    """`predict_rows` of one row per distinct decision cell, handed to every row of that cell (see the module).

    A tree model whose splits cannot be read is predicted row by row; the
    reason is logged as a warning and returned as `fallback`.
    """
    try:
        thresholds = split_thresholds(model) if len(X) else None
    except FastPathUnavailable as exc:
        log.warning("scoring %d rows one by one instead of by decision cell (slower, same scores): %s", len(X), exc)
        return Prediction(predict_rows(model, X, workers), by_cell=False, fallback=str(exc))
    if not thresholds:  # nothing to score, not trees (row by row is their only way), or trees that never split
        return Prediction(predict_rows(model, X, workers), by_cell=False)
    first, group = distinct_cells(split_cells(thresholds, X, workers))
    return Prediction(predict_rows(model, X[first], workers)[group], by_cell=True)


def predict_scores(model: Any, X: np.ndarray, workers: int = 1) -> np.ndarray:
    """The scores of `predict` (a fall-back from the fast path is logged there)."""
    return predict(model, X, workers).scores
