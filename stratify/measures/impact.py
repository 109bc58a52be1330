"""What engagement changed: a difference in differences against people who looked alike before.

People are listed at their worst, so their service use falls afterwards with
or without help (regression to the mean: Roland et al., BMJ 2005; Camden's
hotspotting trial, Finkelstein et al., NEJM 2020). A before/after change of
the engaged alone therefore overstates what a team did. Here each engaged
person is compared with people who were not engaged by the end of the
window and who looked alike before it:

- where list history exists (the person was on a published list on or before
  the engagement date), the comparison people come from that same run, with
  a similar score and a similar trajectory;
- otherwise, from everyone not engaged, matched on their month-by-month
  interactions over the window before (so the shape of the trajectory counts,
  not only its level).

For each engaged person, the change (interactions per person-year, after
minus before) less the mean change of their comparison people; the place's
effect is the mean over the engaged, with a 95% bootstrap interval
(resampling engaged people with their comparison sets). Nearest neighbours
come from scikit-learn. The same is done for public cost where the place
prices its events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

SCORE_WEIGHT = 20.0  # a score 0.05 apart weighs like one log-count step in one month


@dataclass(frozen=True)
class ImpactSettings:
    window_months: int = 6          # months before and after the engagement month
    controls_per_person: int = 5    # comparison people per engaged person
    match_months: int = 3           # comparison index months this close to the engagement month
    bootstrap: int = 2000           # bootstrap resamples for the interval
    min_people: int = 10            # fewer engaged people than this: no estimate
    seed: int = 0


@dataclass(frozen=True)
class World:
    """Everything the estimator needs, as arrays over people (rows) and months (columns).

    `counts[p, m]`: interactions of person p in month m (month 0 is the first
    month of the history). `costs` is the same in pounds, or None.
    `engaged_month[p]`: the month person p was first engaged, -1 if never.
    `team[p]`: the engaging team, "" if never engaged. `last_month`: the last
    complete month. `listed`: optional list history, one row per (month of the
    run, person index, score), the runs on or before a month being the ones a
    person engaged in that month could have been picked from.
    """

    counts: np.ndarray
    engaged_month: np.ndarray
    team: np.ndarray
    last_month: int
    costs: np.ndarray | None = None
    listed: pd.DataFrame | None = None  # columns: month, person, score


def _window_sums(values: np.ndarray, month: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums over the w months before and the w months after each person's index month."""
    cum = np.concatenate([np.zeros((values.shape[0], 1)), np.cumsum(values, axis=1)], axis=1)
    rows = np.arange(values.shape[0])
    before = cum[rows, month] - cum[rows, month - w]
    after = cum[rows, month + w + 1] - cum[rows, month + 1]
    return before, after


def _pre_trajectory(counts: np.ndarray, people: np.ndarray, month: np.ndarray | int, w: int) -> np.ndarray:
    """Each person's interactions in each of the w months before their index month (level and shape)."""
    month = np.broadcast_to(np.asarray(month), people.shape)
    cols = month[:, None] - w + np.arange(w)[None, :]
    return counts[people[:, None], cols].astype(float)


def _candidates(world: World, s: ImpactSettings, month: int) -> tuple[np.ndarray, np.ndarray]:
    """Comparison (person, index month) pairs for people engaged in `month`.

    Index months within `match_months` of the engagement month are allowed, so
    that people at a peak as high as the engaged people's can be found (the
    engaged are often the most extreme of their own month); a person counts
    only if not engaged before the end of their own window.
    """
    w, r = s.window_months, s.match_months
    em = world.engaged_month
    people, months = [], []
    for m in range(max(w, month - r), min(world.last_month - w, month + r) + 1):
        ok = np.flatnonzero((em < 0) | (em > m + w))
        people.append(ok)
        months.append(np.full(len(ok), m))
    return np.concatenate(people), np.concatenate(months)


def _match(world: World, s: ImpactSettings, engaged: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Comparison people and their index months (engaged x K) for each engaged person, and how each was matched."""
    w, k = s.window_months, s.controls_per_person
    em = world.engaged_month
    controls = np.full((len(engaged), k), -1, dtype=np.int64)
    control_month = np.zeros((len(engaged), k), dtype=np.int64)
    by_history = np.zeros(len(engaged), dtype=bool)
    listed = world.listed
    for month in np.unique(em[engaged]):
        at = np.flatnonzero(em[engaged] == month)
        remaining = at
        if listed is not None and len(listed):
            runs = listed[listed["month"] <= month]
            if len(runs):
                last = runs[runs["month"] == runs["month"].max()]
                score = pd.Series(last["score"].to_numpy(), index=last["person"].to_numpy())
                score = score[~score.index.duplicated()]
                mine = np.isin(engaged[at], score.index.to_numpy())
                pool = score.index.to_numpy()
                pool = pool[(em[pool] < 0) | (em[pool] > month + w)]
                if mine.any() and len(pool) >= k:
                    who = engaged[at[mine]]

                    def feats(p: np.ndarray, score: pd.Series = score, month: int = int(month)) -> np.ndarray:
                        return np.column_stack([score.loc[p].to_numpy() * SCORE_WEIGHT,
                                                _pre_trajectory(world.counts, p, month, w)])
                    _, idx = NearestNeighbors(n_neighbors=k).fit(feats(pool)).kneighbors(feats(who))
                    controls[at[mine]] = pool[idx]
                    control_month[at[mine]] = month
                    by_history[at[mine]] = True
                    remaining = at[~mine]
        if len(remaining):
            pool, pool_month = _candidates(world, s, int(month))
            if len(pool) < k:
                continue
            nn = NearestNeighbors(n_neighbors=k).fit(_pre_trajectory(world.counts, pool, pool_month, w))
            _, idx = nn.kneighbors(_pre_trajectory(world.counts, engaged[remaining], int(month), w))
            controls[remaining] = pool[idx]
            control_month[remaining] = pool_month[idx]
    return controls, control_month, by_history


def _summary(d: np.ndarray, naive: np.ndarray, comparison: np.ndarray, s: ImpactSettings,
             rng: np.random.Generator) -> dict:
    boot = d[rng.integers(0, len(d), size=(s.bootstrap, len(d)))].mean(axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    return {"effect": float(d.mean()), "ci_low": float(low), "ci_high": float(high),
            "naive_change": float(naive.mean()), "comparison_change": float(comparison.mean())}


def estimate(world: World, s: ImpactSettings = ImpactSettings()) -> dict:
    """The place's and each team's estimate (see the module docstring)."""
    w = s.window_months
    em = world.engaged_month
    recorded = np.flatnonzero(em >= 0)
    complete = recorded[(em[recorded] - w >= 0) & (em[recorded] + w <= world.last_month)]
    result: dict = {"window_months": w, "controls_per_person": s.controls_per_person,
                    "engaged_recorded": int(len(recorded)), "engaged_with_full_windows": int(len(complete))}
    if len(complete) < s.min_people:
        result["place"] = _too_few(len(complete), s)
        result["teams"] = {}
        return result
    controls, control_month, by_history = _match(world, s, complete)
    ok = (controls >= 0).all(axis=1)
    engaged, controls, control_month, by_history = complete[ok], controls[ok], control_month[ok], by_history[ok]
    scale = 12.0 / w  # per person-year
    measures = {"interactions": world.counts} | ({"cost_gbp": world.costs} if world.costs is not None else {})
    per_person: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for name, values in measures.items():
        month = em[engaged]
        before, after = _window_sums(values[engaged].astype(float), month, w)
        naive = (after - before) * scale
        flat = controls.ravel()
        cb, ca = _window_sums(values[flat].astype(float), control_month.ravel(), w)
        change = ((ca - cb) * scale).reshape(controls.shape)
        comparison = change.mean(axis=1)
        per_person[name] = (naive - comparison, naive, comparison)
    rng = np.random.default_rng(s.seed)

    def block(mask: np.ndarray) -> dict:
        n = int(mask.sum())
        if n < s.min_people:
            return _too_few(n, s)
        out: dict[str, Any] = {"engaged_people": n, "estimated": True,
               "matched_on_list_history": int(by_history[mask].sum()),
               "matched_on_trajectory": int((~by_history[mask]).sum())}
        for name, (d, naive, comparison) in per_person.items():
            fig = _summary(d[mask], naive[mask], comparison[mask], s, rng)
            unit = f"{name}_per_person_year"
            out[f"effect_{unit}"] = fig["effect"]
            out[f"naive_change_{unit}"] = fig["naive_change"]
            out[f"comparison_change_{unit}"] = fig["comparison_change"]
            if name == "interactions":
                out["ci_low"], out["ci_high"] = fig["ci_low"], fig["ci_high"]
            else:
                out[f"{name}_ci_low"], out[f"{name}_ci_high"] = fig["ci_low"], fig["ci_high"]
        out["why_they_differ"] = why_they_differ(out)
        return out

    result["place"] = block(np.ones(len(engaged), dtype=bool))
    teams = world.team[engaged]
    result["teams"] = {str(t): block(teams == t) for t in sorted(set(teams.tolist()))}
    return result


def _too_few(n: int, s: ImpactSettings) -> dict:
    return {"engaged_people": None, "estimated": False,
            "effect_interactions_per_person_year": None, "ci_low": None, "ci_high": None,
            "naive_change_interactions_per_person_year": None,
            "note": f"too few engaged people to estimate (fewer than {s.min_people} with a full "
                    f"{s.window_months}-month window before and after)"}


def why_they_differ(block: dict) -> str:
    naive = block["naive_change_interactions_per_person_year"]
    comp = block["comparison_change_interactions_per_person_year"]
    effect = block["effect_interactions_per_person_year"]
    return (f"The engaged people's interactions changed by {naive:+.1f} a person-year, but people who looked "
            f"alike before changed by {comp:+.1f} without the team's help (people are listed at their worst, "
            f"and most improve anyway), so the change the team can claim is {effect:+.1f} "
            f"(95% interval {block['ci_low']:+.1f} to {block['ci_high']:+.1f}).")
