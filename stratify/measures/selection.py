"""Who gets listed, every night: selection rates by group, with Wilson intervals and the four-fifths rule.

A live list has no labels, so tonight's fairness cannot be measured as the
model card measures it (recall, false positives). What can be measured is
who is selected: for each group (sex, age band, ethnic group), for the place
and for each team, the share of its registered, living, not-opted-out people
who are on a list (either tier), with a 95% Wilson interval, and its ratio to
the group with the largest rate. A group is flagged when the ratio falls
outside [0.8, 1.25] (the four-fifths rule, Aequitas's default) and its
interval excludes the largest group's rate (parity). The largest group is
taken among the groups whose figures are shown (see small numbers below).

Beside it, each group's crisis rate (the share meeting a crisis rule) and its
ratio, so a team can tell "listed more because in crisis more" from "listed
more for the same need": `listed_per_crisis` is the group's selection rate
over its crisis rate.

Small numbers: an entry whose listed count, or whose group size, is between
1 and `min_count - 1` keeps its group and team but has its figures withheld
(`suppressed: true`), so no one can work out how many of a small group were
listed.
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


def _rates_for(people: pd.DataFrame, team: str | None, kind: str, min_count: int) -> list[dict]:
    grouped = people.groupby(kind, sort=True).agg(
        people=("listed", "size"), listed=("listed", "sum"), in_crisis=("in_crisis", "sum"))
    grouped = grouped[grouped["people"] > 0]
    if grouped.empty:
        return []
    rates = grouped["listed"] / grouped["people"]
    crisis_rates = grouped["in_crisis"] / grouped["people"]
    # The reference is the most-listed group among those large enough to show: a group of three with
    # one person listed must not set the bar for everyone else (nor be revealed by the ratios).
    shown = ~(grouped["people"].map(lambda n: _small(n, min_count)) | grouped["listed"].map(lambda n: _small(n, min_count))
              | grouped["in_crisis"].map(lambda n: _small(n, min_count)))
    reference = float(rates[shown].max()) if shown.any() else 0.0
    crisis_reference = float(crisis_rates[shown].max()) if shown.any() else 0.0
    out = []
    for group, row in grouped.iterrows():
        n, k, c = int(row["people"]), int(row["listed"]), int(row["in_crisis"])
        rate = k / n
        low, high = wilson_interval(k, n)
        ratio = rate / reference if reference > 0 else None
        flagged = bool(ratio is not None and not (FOUR_FIFTHS[0] <= ratio <= FOUR_FIFTHS[1])
                       and not (low <= reference <= high))
        crisis_rate = c / n
        entry = {
            "team": team, "group_kind": kind, "group": str(group),
            "people": n, "listed": k, "rate": rate, "ci_low": low, "ci_high": high,
            "ratio": ratio, "flagged": flagged,
            "crisis_rate": crisis_rate,
            "crisis_ratio": crisis_rate / crisis_reference if crisis_reference > 0 else None,
            "listed_per_crisis": rate / crisis_rate if crisis_rate > 0 else None,
            "suppressed": False,
        }
        if _small(n, min_count) or _small(k, min_count) or _small(c, min_count):
            for key in ("people", "listed", "rate", "ci_low", "ci_high", "ratio", "crisis_rate",
                        "crisis_ratio", "listed_per_crisis"):
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
                         f"{e['ratio']:.2f} times the rate of the most-listed group "
                         f"(crisis rate ratio {_fmt(e['crisis_ratio'])})")
    return lines


def _fmt(x: float | None) -> str:
    return "not known" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"
