"""The measure stage's figures as pages show them: words and rounded rates, small numbers already withheld."""

from __future__ import annotations

from typing import Any

from stratify.config import SuppressionConfig
from stratify.publish.suppression import suppress

GROUP_KIND_LABELS = {"sex": "sex", "age_band": "age band", "ethnic_group": "ethnic group"}
SEX_LABELS = {"F": "female", "M": "male", "X": "other", "U": "not known"}
ETHNIC_LABELS = {"A": "Asian", "B": "Black", "M": "Mixed", "W": "White", "O": "Other", "Z": "not stated"}


def _pct(x: float | None, digits: int = 1) -> str:
    return "withheld" if x is None else f"{100 * x:.{digits}f}%"


def _ratio(x: float | None) -> str:
    return "withheld" if x is None else f"{x:.2f}"


NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")


def months_words(n: int) -> str:
    """`6` -> "six months", `1` -> "one month", 18 -> "18 months" (a page's prose, not a table's figure)."""
    word = NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)
    return f"{word} month" + ("" if n == 1 else "s")


def _group(kind: str, group: str) -> str:
    return {"sex": SEX_LABELS, "ethnic_group": ETHNIC_LABELS}.get(kind, {}).get(group, group)


def selection_rows(entries: list[dict], team: str | None = None) -> list[dict[str, Any]]:
    """One row per group of the place (or one team): rate with its interval, ratios, flag."""
    rows = []
    for e in entries:
        if e["team"] != team:
            continue
        rows.append({
            "kind": GROUP_KIND_LABELS.get(e["group_kind"], e["group_kind"]), "group": _group(e["group_kind"], e["group"]),
            "rate": _pct(e["rate"], 2),
            "interval": "withheld" if e["rate"] is None else f"{_pct(e['ci_low'], 2)} to {_pct(e['ci_high'], 2)}",
            "ratio": _ratio(e["ratio"]), "crisis_ratio": _ratio(e["crisis_ratio"]),
            "flagged": e["flagged"], "suppressed": e["suppressed"],
        })
    return rows


def impact_lines(place: dict | None, sup: SuppressionConfig) -> dict[str, Any]:
    """What engagement changed, for leaders: the estimate with its interval beside the plain before/after."""
    if not place:
        return {"estimated": False, "text": "Not measured for this run."}
    if not place.get("estimated"):
        return {"estimated": False, "text": place.get("note", "too few engaged people to estimate").capitalize() + "."}
    return {
        "estimated": True,
        "engaged": suppress(place["engaged_people"], sup),
        "effect": f"{place['effect_interactions_per_person_year']:+.1f}",
        "interval": f"{place['ci_low']:+.1f} to {place['ci_high']:+.1f}",
        "naive": f"{place['naive_change_interactions_per_person_year']:+.1f}",
        "comparison": f"{place['comparison_change_interactions_per_person_year']:+.1f}",
        "text": place["why_they_differ"],
    }


def past_list_rows(rows: list[dict], sup: SuppressionConfig) -> list[dict[str, Any]]:
    """Realised against promised precision of past lists, by team and month (`short`: judged by the stage)."""
    return [{"team": r["team"], "month": r["month"][:7],
             "wobbling": "withheld" if r["wobbling"] is None else suppress(int(r["wobbling"]), sup),
             "realised": _pct(r["realised_precision"], 0),
             "promised": _pct(r["promised_precision"], 0), "still": _pct(r["crisis_still_in_crisis_share"], 0),
             "nights": r["fewest_nights_observed"], "short": bool(r.get("short"))} for r in rows]


def _bands(bands: list[dict], sup: SuppressionConfig) -> list[dict[str, str]]:
    return [{"band": f"{b['low']:.2f} to {b['high']:.2f}",
             "people": "withheld" if b["people"] is None else suppress(int(b["people"]), sup),
             "mean_score": _pct(b["mean_score"], 1), "observed": _pct(b["observed_share"], 1)}
            for b in bands if b["people"] != 0]


def drift_lines(drift: dict | None, sup: SuppressionConfig) -> dict[str, Any] | None:
    """The promoted model re-measured tonight on its latest labelled period, beside its card; features outside range."""
    if not drift:
        return None
    then = drift.get("at_training") or {}
    now = drift.get("tonight") or {}

    def brier(x: float | None) -> str:
        return "not recorded" if x is None else f"{x:.4f}"

    return {
        "model": drift["model_version"],
        "then_period": then.get("period") or "not recorded", "then_brier": brier(then.get("brier")),
        "then_precision": _pct(then.get("precision_at_capacity"), 0) if then.get("precision_at_capacity") is not None
        else "not recorded",
        "measured": "brier" in now,
        "now_period": now.get("period"), "now_labels_to": now.get("labels_to"),
        "now_measured_on": now.get("measured_on"),
        "now_brier": brier(now.get("brier")),
        "now_precision": _pct(now.get("precision_at_capacity"), 0) if now.get("precision_at_capacity") is not None
        else "not measured",
        "now_rows": "withheld" if now.get("rows") is None else suppress(int(now["rows"]), sup),
        "now_note": now.get("note"),
        "bands": _bands(now.get("score_bands", []), sup),
        "outside": "not measured" if drift.get("share_outside_training_range") is None
        else _pct(drift["share_outside_training_range"], 1),
        "features": [f"{f['feature']} ({_pct(f['share'], 1)})" for f in drift.get("features_most_outside", [])],
        "note": drift.get("note"),
    }


def measures_context(summary: dict | None, sup: SuppressionConfig) -> dict[str, Any] | None:
    """Everything the overview and the IG page show of the measure stage, or None if it did not run."""
    if not summary:
        return None
    entries = summary.get("fairness", {}).get("selection_rates", [])
    return {
        "selection": selection_rows(entries), "flagged": summary.get("fairness", {}).get("flagged", []),
        "impact": impact_lines(summary.get("impact"), sup),
        "past_lists": past_list_rows(summary.get("past_lists", []), sup),
        "horizon": months_words(int(summary.get("horizon_months", 6))),
        "margin": _pct(summary.get("precision_margin"), 0),
        "shortfalls": summary.get("precision_shortfalls", []),
        "retrain_flagged": summary.get("retrain_flagged", False),
        "drift": drift_lines(summary.get("drift"), sup),
    }
