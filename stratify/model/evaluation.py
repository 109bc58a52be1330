"""Honest evaluation of a wobbling model on a held-out future period.

Everything here scores a model the way a team would use it: each team takes
its `capacity` highest scores, so precision and recall are measured at
capacity, per team and pooled. Fairness is measured with fairlearn's
`MetricFrame` over sex, age band and ethnic group, on the same selection.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, precision_score, recall_score, roc_auc_score

from stratify.config import PlaceConfig

GROUP_COLUMNS = ("sex", "age_band", "ethnic_group")


@dataclass
class HeldOut:
    """The rows of one held-out snapshot: labels, teams and the attributes fairness is measured over."""

    y: np.ndarray
    teams: np.ndarray
    groups: pd.DataFrame  # columns GROUP_COLUMNS
    person_ids: np.ndarray


def selected_at_capacity(score: np.ndarray, teams: np.ndarray, cfg: PlaceConfig) -> np.ndarray:
    """Boolean mask: each team's `capacity` highest scores (ties broken by position)."""
    frame = pd.DataFrame({"score": score, "team": teams})
    rank = frame.groupby("team")["score"].rank(method="first", ascending=False)
    return (rank <= frame["team"].map(cfg.capacity)).to_numpy()


def capacity_metrics(y: np.ndarray, chosen: np.ndarray, teams: np.ndarray) -> dict:
    """Pooled and per-team precision and recall of a selection."""
    def pr(mask: np.ndarray) -> tuple[float, float]:
        yy, cc = y[mask], chosen[mask]
        return (float(yy[cc].mean()) if cc.any() else 0.0, float(cc[yy == 1].mean()) if yy.any() else float("nan"))

    per_team = {}
    for team in sorted(set(teams)):
        p, r = pr(teams == team)
        per_team[str(team)] = {"precision": p, "recall": r}
    p, r = pr(np.ones(len(y), dtype=bool))
    return {"precision_at_capacity": p, "recall_at_capacity": r, "by_team": per_team}


def evaluate(held: HeldOut, score: np.ndarray, cfg: PlaceConfig) -> dict:
    """Discrimination, calibration and capacity metrics on one held-out snapshot."""
    both = len(np.unique(held.y)) > 1
    chosen = selected_at_capacity(score, held.teams, cfg)
    return {
        "auroc": float(roc_auc_score(held.y, score)) if both else float("nan"),
        "average_precision": float(average_precision_score(held.y, score)) if both else float("nan"),
        "brier": float(brier_score_loss(held.y, score)),
        **capacity_metrics(held.y, chosen, held.teams),
        "positives": int(held.y.sum()),
        "rows": int(len(held.y)),
    }


def fairness(held: HeldOut, score: np.ndarray, cfg: PlaceConfig) -> dict:
    """Recall, false-positive rate, precision and selection rate by group, with the largest gaps.

    Every group is reported; only groups with at least
    `model.fairness_min_positives` people entering crisis count towards the
    gaps, since a recall measured on a handful of people is mostly noise
    (with 17 positives its standard error is about 0.12).
    """
    chosen = selected_at_capacity(score, held.teams, cfg).astype(int)
    out: dict[str, dict] = {}
    for attr in GROUP_COLUMNS:
        groups = held.groups[attr].fillna("unknown").astype(str).to_numpy()
        mf = MetricFrame(
            metrics={
                "recall": lambda y, p: recall_score(y, p, zero_division=np.nan),
                "false_positive_rate": false_positive_rate,
                "precision": lambda y, p: precision_score(y, p, zero_division=np.nan),
                "selection_rate": selection_rate,
                "count": lambda y, p: len(y),
                "positives": lambda y, p: int(np.sum(y)),
            },
            y_true=held.y, y_pred=chosen, sensitive_features=groups,
        )
        table = mf.by_group
        big = table[(table["count"] >= cfg.suppression.min_count) & (table["positives"] >= cfg.model.fairness_min_positives)]
        gaps = {}
        for metric in ("recall", "false_positive_rate"):
            values = big[metric].dropna()
            gaps[metric] = float(values.max() - values.min()) if len(values) > 1 else 0.0
        out[attr] = {
            "by_group": {str(k): {m: (None if pd.isna(v) else float(v)) for m, v in row.items()}
                         for k, row in table.iterrows()},
            "largest_gap": gaps,
        }
    out["largest_gap"] = {
        m: max(out[a]["largest_gap"][m] for a in GROUP_COLUMNS) for m in ("recall", "false_positive_rate")
    }
    return out


def reliability(held: HeldOut, score: np.ndarray, bins: int = 10) -> dict:
    """Observed against predicted crisis rates in quantile bins (for the reliability plot)."""
    if len(np.unique(held.y)) < 2:
        return {"predicted": [], "observed": []}
    observed, predicted = calibration_curve(held.y, score, n_bins=bins, strategy="quantile")
    return {"predicted": [float(v) for v in predicted], "observed": [float(v) for v in observed]}


def reliability_png(curves: dict[str, dict]) -> str:
    """A reliability plot of one or more models as a base64 PNG (for inline HTML)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    top = max([0.05] + [max(c["predicted"] + c["observed"], default=0) for c in curves.values()])
    ax.plot([0, top], [0, top], color="#999", linestyle="--", linewidth=1, label="perfectly calibrated")
    for name, c in curves.items():
        ax.plot(c["predicted"], c["observed"], marker="o", linewidth=1.5, label=name.replace("_", " "))
    ax.set_xlabel("predicted probability of crisis")
    ax.set_ylabel("observed share entering crisis")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def answer_key_precision(held: HeldOut, key: pd.DataFrame, cfg: PlaceConfig, on: date) -> dict[str, float]:
    """Precision at capacity when each team ranks by the synthetic place's true latent risk on `on`.

    The answer key exists only for synthetic places. Ranked by the latent
    risk on the held-out snapshot's own date it is the best any model could
    do with what had happened by then: the ceiling (`precision_at_capacity`).
    The key's `latent_risk` column is the risk on the place's later as-of
    date, which already reflects who went on to reach crisis; its figure is
    kept (`precision_at_capacity_seeing_the_future`) only to show the gap.
    """
    from stratify.synth.generate import answer_key_risk

    def precision(risk: np.ndarray) -> float:
        truth = pd.Series(risk, index=key["person_id"].to_numpy()).reindex(held.person_ids).fillna(0).to_numpy()
        return capacity_metrics(held.y, selected_at_capacity(truth, held.teams, cfg), held.teams)["precision_at_capacity"]

    return {"precision_at_capacity": precision(answer_key_risk(key, on)),
            "precision_at_capacity_seeing_the_future": precision(key["latent_risk"].to_numpy())}
