"""The risk cohort: who drifts towards crisis, recovers or nearly does, and their latent trajectories."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stratify.synth.behaviour import COHORT_SHARES, DOMAIN_COUNT_ODDS, DOMAIN_WEIGHTS, NEAR_MISS_DOMAIN_ODDS
from stratify.synth.draws import draw_keys, uniform_days
from stratify.synth.people import People


@dataclass
class Cohort:
    """The people whose contacts change over time (latent trajectories)."""

    idx: np.ndarray  # person indices
    archetype: np.ndarray  # str
    escalation: np.ndarray  # day rises begin
    peak: np.ndarray  # day full intensity (the crisis date when level == 1)
    recovery: np.ndarray  # day support starts to work (INT32_MAX: never)
    level: np.ndarray  # 1 = crisis, < 1 = near miss
    domains: np.ndarray  # bool (n, n_domains)
    high_intensity: np.ndarray  # int: -1 none, else index into HIGH_INTENSITY_KINDS


HIGH_INTENSITY_KINDS = ("ae", "police", "homelessness")
NEVER = np.iinfo(np.int32).max


def make_cohort(rng: np.random.Generator, p: People, domain_names: list[str], a: int, s: int) -> Cohort:
    """Pick the risk cohort (weighted to deprived, single adults) and draw their trajectories."""
    eligible = np.flatnonzero(~p.is_child & (p.age < 70) & (p.death > a))
    eligible = eligible[eligible != p.brian]
    single = np.bincount(p.household, minlength=p.n_households)[p.household[eligible]] == 1
    w = p.vuln[eligible] * (1 + 1.5 * single) * np.where(p.age[eligible] < 50, 1.5, 0.7)
    sizes = {k: int(round(v * len(eligible))) for k, v in COHORT_SHARES.items()}
    chosen = rng.choice(eligible, size=min(sum(sizes.values()), len(eligible)), replace=False, p=w / w.sum())
    arche = np.repeat(np.array(list(sizes)), list(sizes.values()))[: len(chosen)]
    n = len(chosen)
    span = a - s
    peak = np.empty(n)
    esc = np.empty(n)
    rec = np.full(n, float(NEVER))
    level = np.ones(n)
    u = rng.random(n)
    dur = rng.uniform(180, 540, n)
    for name, mask in ((k, arche == k) for k in COHORT_SHARES):
        k = int(mask.sum())
        if name == "crisis":  # in crisis before the history starts and still
            peak[mask] = s - rng.uniform(0, 400, k)
        elif name == "recovering":  # crisis early on, support working in the history
            peak[mask] = s - 200 + (span * 0.45 + 200) * u[mask]
            rec[mask] = peak[mask] + rng.uniform(90, 300, k)
        elif name == "drifting":  # entries spread over the whole history and the next year
            peak[mask] = s + 90 + (span + 365 - 90) * u[mask]
            supported = rng.random(k) < 0.8
            rec[mask] = np.where(supported, peak[mask] + rng.uniform(60, 360, k), NEVER)
        else:  # near misses: rising signals that stop short of crisis
            peak[mask] = s + (span + 365) * u[mask]
            level[mask] = rng.uniform(0.25, 0.5, k)
            rec[mask] = peak[mask] + rng.uniform(60, 300, k)
    esc[:] = peak - dur
    domains, hi = _cohort_domains(rng, arche, domain_names)
    return Cohort(chosen, arche, esc.astype(np.int64), peak.astype(np.int64),
                  np.minimum(rec, NEVER).astype(np.int64), level, domains, hi)


def _cohort_domains(rng: np.random.Generator, arche: np.ndarray, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Which SMD domains each cohort member's crisis involves (Gumbel top-k by weights)."""
    n, d = len(arche), len(names)
    w = np.array([DOMAIN_WEIGHTS.get(x, 0.5) for x in names])
    counts = np.array(list(DOMAIN_COUNT_ODDS))[draw_keys(rng, {str(k): v for k, v in DOMAIN_COUNT_ODDS.items()}, n)]
    near = np.array(list(NEAR_MISS_DOMAIN_ODDS))[draw_keys(rng, {str(k): v for k, v in NEAR_MISS_DOMAIN_ODDS.items()}, n)]
    counts = np.minimum(np.where(arche == "near_miss", near, counts), d)
    keys = np.log(w)[None, :] + rng.gumbel(size=(n, d))
    order = np.argsort(-keys, axis=1)
    domains = np.zeros((n, d), dtype=bool)
    rank = np.argsort(order, axis=1)
    domains[:] = rank < counts[:, None]
    hi = np.where((counts <= 2) & (arche != "near_miss"), rng.integers(0, len(HIGH_INTENSITY_KINDS), n), -1)
    extra = (hi < 0) & (arche != "near_miss") & (rng.random(n) < 0.12)
    hi = np.where(extra, rng.integers(0, len(HIGH_INTENSITY_KINDS), n), hi)
    return domains, hi


def intensity(c: Cohort, stage: float, t: np.ndarray) -> np.ndarray:
    """Share (0..1) of the crisis rate a type reaches at days t, per cohort member.

    The type's rise starts at its stage of the escalation and reaches the
    person's level at the peak; after support it decays (90-day scale) to a
    small residue.
    """
    start = c.escalation + stage * (c.peak - c.escalation)
    x = np.clip((t[None, :] - start[:, None]) / np.maximum(c.peak - start, 1)[:, None], 0, 1) ** 1.5
    after = np.clip(t[None, :] - c.recovery[:, None].astype(float), 0, None)
    decay = 0.08 + 0.92 * np.exp(-after / 90.0)
    return c.level[:, None] * x * decay


def risk_on(day: int, level: np.ndarray, escalation: np.ndarray, peak: np.ndarray, recovery: np.ndarray) -> np.ndarray:
    """Latent risk on a day: progress towards the peak, times the decay after support starts."""
    progress = np.clip((day - escalation) / np.maximum(peak - escalation, 1), 0, 1)
    after = np.clip(day - recovery.astype(float), 0, None)
    return level * progress * (0.08 + 0.92 * np.exp(-after / 90.0))


def latent_risk(c: Cohort, a: int) -> np.ndarray:
    """The answer key's latent risk at as_of: progress towards crisis, times decay after support."""
    return risk_on(a, c.level, c.escalation, c.peak, c.recovery)


def cohort_deaths(rng: np.random.Generator, p: People, c: Cohort, a: int, s: int) -> None:
    """Excess deaths in crisis (overdose, suicide, illness): a few per cent of those in crisis die."""
    in_crisis = (c.level >= 1) & (c.peak <= a)
    dies = in_crisis & (rng.random(len(c.idx)) < 0.04)
    lo = np.clip(np.maximum(c.peak, s), s, a)
    day = uniform_days(rng, lo, np.full(len(c.idx), a))
    p.death[c.idx[dies]] = np.minimum(p.death[c.idx[dies]], day[dies])
