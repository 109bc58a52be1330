"""The wobbling label: a first crisis under the place's own crisis rules within the horizon.

A training row is a person not in crisis at a monthly snapshot; its label is
whether they meet a crisis rule (`cfg.rules`, the nightly rules stage's own
comparisons) at any of the next `horizon` monthly snapshots. The snapshot at
which that first happens, and which rules they met there, say which rule the
positive came from: the model card shows how many positives each rule
contributed, so a place can see whether its wobbling model mostly predicts,
say, three disadvantage domains or a burst of A&E attendances.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from stratify.config import CrisisRule
from stratify.rules import crisis_flags


def rules_met(features: pd.DataFrame, rules: tuple[CrisisRule, ...]) -> np.ndarray:
    """(rows x rules) booleans: which rule each row meets, each by the rules stage's own comparison."""
    if not rules:
        return np.zeros((len(features), 0), dtype=bool)
    return np.column_stack([crisis_flags(features, (r,)) for r in rules])


def first_crisis_step(crisis: Sequence[np.ndarray], i: int, horizon: int) -> np.ndarray:
    """Per person: the first k in 1..horizon with crisis at snapshot i+k, 0 if none (past the last snapshot: none)."""
    step = np.zeros(len(crisis[i]), dtype=np.int16)
    for k in range(horizon, 0, -1):  # from the far end, so the earliest k is written last
        if i + k < len(crisis):
            step[crisis[i + k]] = k
    return step


def label_rows(crisis: Sequence[np.ndarray], i: int, horizon: int, excluded: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """(keep, y): the rows of snapshot i that train (not in crisis then, not excluded) and their labels."""
    keep = ~crisis[i] if excluded is None else ~crisis[i] & ~excluded
    y = first_crisis_step(crisis, i, horizon) > 0
    return keep, y[keep]


def positives_by_rule(rules: tuple[CrisisRule, ...], crisis: Sequence[np.ndarray], met: Sequence[np.ndarray],
                      indices: Iterable[int], horizon: int, excluded: np.ndarray | None = None) -> dict:
    """How many positive training rows each rule contributed, over the snapshots `indices`.

    A positive counts towards every rule it met at its first crisis snapshot
    (`by_rule`, so these can add up to more than `positives`), and towards
    `only` when that rule was the only one it met there.
    """
    ids = [r.id for r in rules]
    by_rule = dict.fromkeys(ids, 0)
    only = dict.fromkeys(ids, 0)
    positives = rows = 0
    for i in indices:
        keep = ~crisis[i] if excluded is None else ~crisis[i] & ~excluded
        step = first_crisis_step(crisis, i, horizon)
        rows += int(keep.sum())
        for k in range(1, horizon + 1):
            who = keep & (step == k)
            if not who.any():
                continue
            hits = met[i + k][who]
            positives += int(who.sum())
            single = hits.sum(axis=1) == 1
            for j, rid in enumerate(ids):
                by_rule[rid] += int(hits[:, j].sum())
                only[rid] += int((hits[:, j] & single).sum())
    return {"rows": rows, "positives": positives, "by_rule": by_rule, "only": only}
