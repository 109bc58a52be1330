"""Who gets listed, every night: selection rates by group, with Wilson intervals and the four-fifths rule.

A live list has no labels, so tonight's fairness cannot be measured as the
model card measures it (recall, false positives). What can be measured is
who is selected: for each group (sex, age band, ethnic group), for the place
and for each team, the share of its registered, living, not-opted-out people
who are on a list (either tier), with a 95% Wilson interval, and its ratio to
the largest group (the group with the most people: Aequitas's default
reference, the majority group). A group is flagged when the ratio falls
outside [0.8, 1.25] (the four-fifths rule as Aequitas applies it, both ways:
listed too little or too much) and its interval excludes the largest group's
rate (parity). The largest group is taken among the groups whose rates are
shown (see small numbers below), and named in each entry (`reference_group`).

Beside it, each group's crisis rate (the share meeting a crisis rule) and its
ratio to the largest group's, so a team can tell "listed more because in
crisis more" from "listed more for the same need": `listed_per_crisis` is
the group's selection rate over its crisis rate.

Small numbers: an entry whose listed count, or whose group size, is between
1 and `min_count - 1` keeps its group and team but has its rate, interval,
ratio and counts withheld (`suppressed: true`, never flagged), so no one can
work out how many of a small group were listed. The crisis figures are
withheld, on their own, when the group's count in crisis is that small.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd
from statsmodels.stats.proportion import proportion_confint

GROUP_KINDS = ("sex", "age_band", "ethnic_group")
FOUR_FIFTHS = (0.8, 1.25)
CONFIDENCE = 0.95


def wilson_interval(listed: int, people: int) -> tuple[float, float]:
    """The 95% Wilson score interval of listed/people (statsmodels)."""
    low, high = proportion_confint(listed, people, alpha=1 - CONFIDENCE, method="wilson")
    return float(low), float(high)


def _small(n: int, min_count: int) -> bool:
    return 0 < n < min_count


def _largest(grouped: pd.DataFrame, shown: pd.Series) -> object | None:
    """The group with the most people among those shown (the first of a tie, in group order), or None."""
    sizes = grouped.loc[shown, "people"]
    return sizes.idxmax() if len(sizes) else None


def _rates_for(people: pd.DataFrame, team: str | None, kind: str, min_count: int) -> list[dict]:
    grouped = people.groupby(kind, sort=True).agg(
        people=("listed", "size"), listed=("listed", "sum"), in_crisis=("in_crisis", "sum"))
    grouped = grouped[grouped["people"] > 0]
    if grouped.empty:
        return []
    small = grouped.map(lambda n: _small(int(n), min_count))
    shown = ~(small["people"] | small["listed"])  # the selection rate reveals these two counts
    crisis_shown = ~(small["people"] | small["in_crisis"])  # the crisis rate these two
    # A group of three with one person listed must not be the reference (nor be revealed by the ratios).
    reference = _largest(grouped, shown)
    ref_rate = float(grouped.at[reference, "listed"] / grouped.at[reference, "people"]) if reference is not None else None
    crisis_reference = _largest(grouped, crisis_shown)
    ref_crisis = (float(grouped.at[crisis_reference, "in_crisis"] / grouped.at[crisis_reference, "people"])
                  if crisis_reference is not None else None)
    out = []
    for group, row in grouped.iterrows():
        n, k, c = int(row["people"]), int(row["listed"]), int(row["in_crisis"])
        rate, crisis_rate = k / n, c / n
        low, high = wilson_interval(k, n)
        ratio = rate / ref_rate if ref_rate else None
        flagged = bool(ratio is not None and ref_rate is not None and not (FOUR_FIFTHS[0] <= ratio <= FOUR_FIFTHS[1])
                       and not (low <= ref_rate <= high))
        entry = {
            "team": team, "group_kind": kind, "group": str(group),
            "people": n, "listed": k, "rate": rate, "ci_low": low, "ci_high": high,
            "ratio": ratio, "flagged": flagged,
            "reference_group": None if reference is None else str(reference),
            "crisis_rate": crisis_rate,
            "crisis_ratio": crisis_rate / ref_crisis if ref_crisis else None,
            "listed_per_crisis": rate / crisis_rate if crisis_rate > 0 else None,
            "suppressed": False,
        }
        if not crisis_shown[group]:
            for key in ("crisis_rate", "crisis_ratio", "listed_per_crisis"):
                entry[key] = None
        if not shown[group]:
            for key in ("people", "listed", "rate", "ci_low", "ci_high", "ratio", "listed_per_crisis"):
                entry[key] = None
            entry["suppressed"] = True
            entry["flagged"] = False  # too few to judge, and a flag would hint at the withheld figures
        out.append(entry)
    return out


def selection_rates(people: pd.DataFrame, listed: Iterable[str], min_count: int) -> list[dict]:
    """One entry per (team or the whole place, group kind, group).

    `people`: one row per registered, living, not-opted-out person with
    columns person_id, team, sex, age_band, ethnic_group, in_crisis (the
    query stratify/sql/measures/selection_people.sql). `listed`: the
    pseudonyms on any team's ranked list tonight, both tiers.
    """
    frame = people.copy()
    frame["listed"] = frame["person_id"].isin(set(listed)).astype(int)
    frame["in_crisis"] = frame["in_crisis"].fillna(False).astype(bool).astype(int)
    entries: list[dict] = []
    for kind in GROUP_KINDS:
        entries += _rates_for(frame, None, kind, min_count)
    for team, members in frame.groupby("team", sort=True):
        for kind in GROUP_KINDS:
            entries += _rates_for(members, str(team), kind, min_count)
    return entries


def flagged_groups(entries: list[dict]) -> list[str]:
    """Plain-English lines for the run status: each flagged group, where, and by how much."""
    lines = []
    for e in entries:
        if e["flagged"] and not e["suppressed"]:
            where = f"team {e['team']}" if e["team"] else "the place"
            lines.append(f"{e['group_kind'].replace('_', ' ')} {e['group']} in {where}: listed at "
                         f"{e['ratio']:.2f} times the rate of the largest group ({e['reference_group']}), "
                         f"crisis rate ratio {_fmt(e['crisis_ratio'])}")
    return lines


def _fmt(x: float | None) -> str:
    return "not known" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"
