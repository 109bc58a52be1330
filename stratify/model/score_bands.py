"""What a wobbling score meant for past people: crises per score band on the held-out test snapshot.

Training records, for fixed bands of the calibrated score, how many people
of the test snapshot (not in crisis then) had a score in the band and how
many of them met a crisis rule within the horizon. The pages turn this into
"of past people with a score from 0.10 to 0.20, about 14 in 100 met a crisis
rule within 6 months" (`stratify.publish.about_list`). Fixed bands, not
quantiles: the people a list shows sit in the top half percent of scores,
which quantile bins lump together with everyone else.
"""

from __future__ import annotations

import numpy as np

BAND_EDGES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)


def score_bands(y: np.ndarray, score: np.ndarray, edges: tuple[float, ...] = BAND_EDGES) -> list[dict]:
    """Per band [low, high) (the last one closed): people, crises among them, and their mean score."""
    y, score = np.asarray(y), np.asarray(score, dtype=float)
    band = np.clip(np.searchsorted(edges, score, side="right") - 1, 0, len(edges) - 2)
    out = []
    for b in range(len(edges) - 1):
        inside = band == b
        out.append({"low": edges[b], "high": edges[b + 1], "people": int(inside.sum()),
                    "crises": int(y[inside].sum()), "mean_score": float(score[inside].mean()) if inside.any() else None})
    return out
