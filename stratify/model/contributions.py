"""Why the model scored a person as it did: contributions against the place's typical person, as reasons.

A feature's contribution to a person's score is the score minus the score
with that one feature set to the place's typical person's value (the
training median, `bundle.reference`): model-agnostic, and exactly 0
where the person's value already is the typical one, so only the other
entries are predicted (most counts of most people are the median's 0).

A reason must set the person apart, so three kinds of contribution are not
reasons:

- attributes everyone has (`ATTRIBUTES`: age): a contribution of age is on
  every person, and "aged 24" is no evidence a team can check or act on;
- evidence the person shares with most of the people explained with them
  (the people a list shows tonight): a value equal to their median, such as
  "2 agencies involved in 90 days" when most people shown have two, says
  nothing about this person (`distinct_from_peers`; only for `MIN_PEERS` or
  more people, so a handful explained alone keep every reason);
- a count restated by a reason already chosen: one reason per thing counted,
  whatever its window (`subject`: an agency's trend quotes its contacts in
  90 days, so those contacts are not a second reason).

Each reason quotes the person's evidence and the typical person's value.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from stratify.features.sentences import describe
from stratify.model.predict import predict_scores

if TYPE_CHECKING:
    from stratify.model.registry import ModelBundle

REASONS_PER_PERSON = 3
MIN_CONTRIBUTION = 1e-4  # a change of score smaller than this is no reason
MIN_PEERS = 10  # below this many people explained together, no reason is dropped as shared
ATTRIBUTES = ("age_years",)
NO_REASON = "no single record stands out: several small signals together"


def contributions(bundle: ModelBundle, X: np.ndarray) -> np.ndarray:
    """(people x features): the score minus the score with one feature set to the typical person's value."""
    X = np.asarray(X, dtype=np.float32)
    n, k = X.shape
    drop = np.zeros((n, k))
    if not n:
        return drop
    base = predict_scores(bundle.model, X)
    reference = np.asarray(bundle.reference, dtype=np.float32)
    person, feature = np.nonzero(X != reference)
    if len(person):
        occluded = X[person]
        occluded[np.arange(len(person)), feature] = reference[feature]
        drop[person, feature] = base[person] - predict_scores(bundle.model, occluded)
    return drop


def distinct_from_peers(X: np.ndarray) -> np.ndarray:
    """(people x features) True where a person's value differs from the median of the people explained with them."""
    X = np.asarray(X, dtype=np.float32)
    if len(X) < MIN_PEERS:
        return np.ones(X.shape, dtype=bool)
    return X != np.median(X, axis=0)


def subject(feature: str) -> str:
    """What a feature counts, whatever its window: `police_events_30d` and `police_events_90d` are `police_events`.

    An agency's trend quotes that agency's contacts, so `police_trend_90d` is `police_events` too.
    """
    if feature.endswith("_trend_90d"):
        return feature[: -len("_trend_90d")] + "_events"
    return re.sub(r"_\d+d$", "", feature)


def choose(columns: list[str], drop: np.ndarray, distinct: np.ndarray) -> list[list[int]]:
    """Per person, the indices of up to `REASONS_PER_PERSON` features that raised the score and set them apart."""
    usable = (drop > MIN_CONTRIBUTION) & distinct
    usable[:, [j for j, c in enumerate(columns) if c in ATTRIBUTES]] = False
    subjects = [subject(c) for c in columns]
    chosen = []
    for i in range(len(drop)):
        picked: list[int] = []
        covered: set[str] = set()
        for j in np.argsort(-drop[i], kind="stable"):
            if not usable[i, j]:
                if drop[i, j] <= MIN_CONTRIBUTION:
                    break
                continue
            if subjects[j] in covered:
                continue
            picked.append(int(j))
            covered.add(subjects[j])
            if len(picked) == REASONS_PER_PERSON:
                break
        chosen.append(picked)
    return chosen


def reasons(bundle: ModelBundle, rows: pd.DataFrame) -> list[str]:
    """Per person (in `rows` order), the reasons that set them apart, `; `-separated, largest first."""
    columns = list(bundle.feature_columns)
    if rows.empty:
        return []
    X = rows[columns].to_numpy(dtype=np.float32)
    drop = contributions(bundle, X)
    reference = np.asarray(bundle.reference, dtype=np.float32)
    out = []
    for picked, record in zip(choose(columns, drop, distinct_from_peers(X)), rows.to_dict("records")):
        out.append("; ".join(describe(columns[j], record, float(reference[j])) for j in picked) or NO_REASON)
    return out
