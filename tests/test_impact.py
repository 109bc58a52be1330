"""What engagement changed: the estimator on worlds where the truth is known, and its warehouse inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stratify.measures.impact import ImpactSettings, World, estimate

MONTHS = 36
W = 6


def _world(seed: int, effect_share: float) -> tuple[World, float]:
    """People with a steady rate and occasional three-month crises; teams engage people at their peak.

    Engagement is chosen on what the teams see: every other month, a team reaches 40
    of the 120 people with the most interactions over the three months before. `effect_share` of each engaged person's later interactions
    is removed (0: engagement does nothing). Returns the world and the true effect
    in interactions per person-year (the removed interactions, known exactly here).
    """
    rng = np.random.default_rng(seed)
    n = 12_000
    base = rng.gamma(0.6, 0.8, size=n)
    rate = np.repeat(base[:, None], MONTHS, axis=1)
    crisis = rng.random(n) < 0.25
    start = rng.integers(0, MONTHS - 3, size=n)
    for p in np.flatnonzero(crisis):
        rate[p, start[p]:start[p] + 3] *= rng.uniform(3, 8)
    counts = rng.poisson(rate)
    engaged_month = np.full(n, -1)
    team = np.full(n, "", dtype=object)
    for month in range(W + 3, MONTHS - W - 1, 2):
        recent = counts[:, month - 3:month].sum(axis=1).astype(float)
        recent[engaged_month >= 0] = -1
        top = np.argsort(-recent, kind="stable")[:120]  # the people at their peak this month
        chosen = rng.choice(top, size=40, replace=False)  # the ones the team reached
        engaged_month[chosen] = month
        team[chosen] = np.where(rng.random(len(chosen)) < 0.5, "NT01", "NT02")
    removed = np.zeros(n)
    if effect_share:
        for p in np.flatnonzero(engaged_month >= 0):
            m = engaged_month[p]
            after = counts[p, m + 1:]
            kept = rng.binomial(after, 1 - effect_share)
            removed[p] = (after - kept)[:W].sum()
            counts[p, m + 1:] = kept
    true_effect = -float(removed[engaged_month >= 0].mean()) * 12 / W
    world = World(counts=counts, engaged_month=engaged_month, team=team, last_month=MONTHS - 1)
    return world, true_effect


def test_engagement_that_did_nothing_shows_no_effect_while_before_after_shows_a_fall():
    """A 95% interval misses now and then by design: over four worlds, at most one may."""
    held = 0
    for seed in (10, 12, 14, 16):
        world, truth = _world(seed=seed, effect_share=0.0)
        assert truth == 0.0
        out = estimate(world, ImpactSettings(window_months=W))["place"]
        assert out["estimated"] and out["engaged_people"] >= 300
        assert out["naive_change_interactions_per_person_year"] < -10  # the fall a before/after shows
        assert abs(out["effect_interactions_per_person_year"]) < 3
        assert out["matched_on_trajectory"] == out["engaged_people"]  # no list history in this world
        held += out["ci_low"] <= 0.0 <= out["ci_high"]
    assert held >= 3


def test_engagement_that_halved_later_interactions_is_found_and_its_interval_holds_the_truth():
    held = 0
    for seed in (11, 13, 15, 17):
        world, truth = _world(seed=seed, effect_share=0.5)
        out = estimate(world, ImpactSettings(window_months=W))["place"]
        assert out["ci_high"] < 0, out  # the interval excludes zero
        # the plain before/after overstates it: regression to the mean adds to the team's effect
        assert out["naive_change_interactions_per_person_year"] < truth - 10
        assert "looked alike before" in out["why_they_differ"]
        held += out["ci_low"] <= truth <= out["ci_high"]
    assert held >= 3


def test_teams_are_estimated_separately_and_small_teams_say_too_few():
    world, _ = _world(seed=3, effect_share=0.0)
    team = world.team.copy()
    engaged = np.flatnonzero(world.engaged_month >= 0)
    team[engaged[:5]] = "NT09"  # five people: too few to estimate
    out = estimate(World(world.counts, world.engaged_month, team, world.last_month))
    assert out["teams"]["NT09"]["estimated"] is False
    assert out["teams"]["NT09"]["engaged_people"] is None  # a small number, withheld
    assert "too few engaged people to estimate" in out["teams"]["NT09"]["note"]
    assert out["teams"]["NT01"]["estimated"] and out["teams"]["NT02"]["estimated"]


def test_a_place_with_too_few_engaged_people_says_so_instead_of_a_figure():
    world, _ = _world(seed=4, effect_share=0.0)
    em = np.full_like(world.engaged_month, -1)
    em[np.flatnonzero(world.engaged_month >= 0)[:3]] = 12
    out = estimate(World(world.counts, em, world.team, world.last_month))
    assert out["place"]["estimated"] is False and out["place"]["effect_interactions_per_person_year"] is None


def test_list_history_picks_comparison_people_from_the_same_run_with_similar_scores():
    world, _ = _world(seed=5, effect_share=0.0)
    engaged = np.flatnonzero(world.engaged_month >= 0)
    rng = np.random.default_rng(0)
    # a run in each month, listing the engaged people of the month and 200 others, with scores
    rows = []
    for month in np.unique(world.engaged_month[engaged]):
        mine = engaged[world.engaged_month[engaged] == month]
        others = rng.choice(np.flatnonzero(world.engaged_month < 0), size=200, replace=False)
        for p in np.concatenate([mine, others]):
            rows.append((int(month), int(p), float(rng.random())))
    listed = pd.DataFrame(rows, columns=["month", "person", "score"])
    out = estimate(World(world.counts, world.engaged_month, world.team, world.last_month, listed=listed))["place"]
    assert out["matched_on_list_history"] == out["engaged_people"]


def test_cost_is_estimated_beside_interactions_when_events_are_priced():
    world, _ = _world(seed=6, effect_share=0.5)
    costs = world.counts * 120.0
    out = estimate(World(world.counts, world.engaged_month, world.team, world.last_month, costs=costs))["place"]
    assert out["effect_cost_gbp_per_person_year"] == pytest.approx(out["effect_interactions_per_person_year"] * 120)
    assert out["cost_gbp_ci_high"] < 0
