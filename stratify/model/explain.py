"""Reasons for a scored person: the features that, against a typical person's, raised their score most."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stratify.features.sentences import describe
from stratify.model.predict import predict_scores
from stratify.model.registry import ModelBundle
from stratify.warehouse.people import query_for_people

REASONS_PER_PERSON = 3


def explain(bundle: ModelBundle, rows: pd.DataFrame) -> list[str]:
    """Per-person reasons: the features whose value, against a typical person's, raised the score most.

    Contribution of feature j = score(x) - score(x with x_j set to the
    training median): model-agnostic, computed only for listed people.
    Where x_j already is the median, the occluded row is x itself and its
    contribution is exactly 0, so only the other rows are predicted (most
    counts of most people are the median's 0). Each person's reasons depend
    on their own row only, whoever else is explained with them.
    """
    cols = list(bundle.feature_columns)
    if rows.empty:
        return []
    X = rows[cols].to_numpy(dtype=np.float32)
    n, k = X.shape
    base = predict_scores(bundle.model, X)
    reference = np.asarray(bundle.reference, dtype=np.float32)
    person, feature = np.nonzero(X != reference)
    occluded = X[person]
    occluded[np.arange(len(person)), feature] = reference[feature]
    drop = np.zeros((n, k))
    drop[person, feature] = base[person] - predict_scores(bundle.model, occluded)
    reasons = []
    for i, record in enumerate(rows.to_dict("records")):
        top = [j for j in np.argsort(-drop[i])[:REASONS_PER_PERSON] if drop[i, j] > 1e-4]
        reasons.append("; ".join(describe(cols[j], record) for j in top) or "a combination of small signals")
    return reasons


def load_explain_rows(con, person_ids) -> pd.DataFrame:
    """Whole feature rows (and crisis columns) of these people, in person order: what `explain` describes."""
    return query_for_people(con, person_ids, "list_explain_rows.sql")
