"""Paths towards crisis: disadvantage domains acquired one at a time, with irregular gaps, and recovery.

A path is one person's schedule: when it starts, how many domains it goes on
to acquire (its severity, latent: most stop at one or two), in which order,
on which days (log-normal gaps, so a next domain can come in weeks or a year
later), and, for most, a recovery after the last one, when the domains stop
one by one. A household member's third domain starts some of the others of
the household on a path and halves the remaining gaps of those already on one
(one round: a path started that way does not start further ones).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from stratify.worlds.mechanics import (
    DOMAIN_ORDER_WEIGHTS,
    GAP_MEDIAN_DAYS,
    GAP_SIGMA,
    HOUSEHOLD_GAP_FACTOR,
    HOUSEHOLD_START_DAYS,
    HOUSEHOLD_START_SHARE,
    PATH_SHARE,
    RECOVERY_MEDIAN_DAYS,
    RECOVERY_SHARE,
    RECOVERY_SIGMA,
    RECOVERY_SPREAD_DAYS,
    SEVERITY_ODDS,
    YEAR_DAYS,
)
from stratify.worlds.population import NEVER, Population

MAX_DOMAINS = max(SEVERITY_ODDS)


@dataclass
class Paths:
    """One row per person on a path; columns j = the j-th domain acquired (padded with -1 / NEVER)."""

    person: np.ndarray
    severity: np.ndarray  # how many domains the path goes on to acquire
    domain: np.ndarray  # (m, MAX_DOMAINS) domain index in `domains`, -1 beyond severity
    begins: np.ndarray  # (m, MAX_DOMAINS) day each domain starts, NEVER beyond severity
    ends: np.ndarray  # (m, MAX_DOMAINS) day each domain stops, NEVER if it never does
    recovery: np.ndarray  # day recovery starts, NEVER if none
    from_household: np.ndarray  # started by a household member's third domain
    domains: tuple[str, ...]

    @property
    def third(self) -> np.ndarray:
        """The day each path acquires its third domain, NEVER if it never does."""
        return self.begins[:, 2]


def _schedule(rng: np.random.Generator, person: np.ndarray, begin: np.ndarray, domains: tuple[str, ...]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    m = len(person)
    severity = rng.choice(np.array(list(SEVERITY_ODDS)), size=m, p=np.array(list(SEVERITY_ODDS.values())))
    weights = np.array([DOMAIN_ORDER_WEIGHTS.get(d, 1.0) for d in domains])
    keys = -np.log(rng.random((m, len(domains)))) / weights  # weighted random order (exponential race)
    order = np.argsort(keys, axis=1)[:, :MAX_DOMAINS]
    gaps = rng.lognormal(np.log(GAP_MEDIAN_DAYS), GAP_SIGMA, (m, MAX_DOMAINS))
    gaps[:, 0] = 0
    days = begin[:, None] + np.cumsum(gaps, axis=1).astype(np.int64)
    beyond = np.arange(MAX_DOMAINS)[None, :] >= severity[:, None]
    return severity, np.where(beyond, -1, order), np.where(beyond, NEVER, days), gaps


def make_paths(rng: np.random.Generator, pop: Population, domains: tuple[str, ...], start: int, end: int) -> Paths:
    """Primary paths for a share of adults, then the household round; recovery last."""
    adult = ~pop.is_child
    primary = np.flatnonzero(adult & (rng.random(pop.n) < PATH_SHARE))
    begin = rng.integers(start - int(2 * YEAR_DAYS), end + 1, len(primary))
    severity, domain, begins, _ = _schedule(rng, primary, begin, domains)
    third = begins[:, 2]
    # the household round: the earliest third domain of each household, by someone else
    frame = pd.DataFrame({"hh": pop.household[primary], "person": primary, "third": third})
    frame = frame[frame["third"] < NEVER].sort_values(["hh", "third"])
    firsts = frame.groupby("hh").head(2)
    by_hh = firsts.groupby("hh")
    earliest = by_hh["third"].first()
    earliest_who = by_hh["person"].first()
    second = pd.Series(np.asarray(firsts.groupby("hh")["third"].apply(lambda s: s.iloc[1] if len(s) > 1 else NEVER)),
                       index=earliest.index)

    def others_third(people: np.ndarray) -> np.ndarray:
        hh = pd.Series(pop.household[people])
        first = hh.map(earliest).fillna(NEVER).to_numpy(np.int64)
        who = hh.map(earliest_who).fillna(-1).to_numpy(np.int64)
        return np.where(who == people, hh.map(second).fillna(NEVER).to_numpy(np.int64), first)

    # those already on a path: the gaps still to come after a housemate's third domain are halved
    trigger = others_third(primary)
    later = begins > trigger[:, None]
    begins = np.where(later & (begins < NEVER),
                      trigger[:, None] + ((begins - trigger[:, None]) * HOUSEHOLD_GAP_FACTOR).astype(np.int64), begins)
    on_path = np.zeros(pop.n, bool)
    on_path[primary] = True
    members = np.flatnonzero(adult & ~on_path & np.isin(pop.household, earliest.index.to_numpy()))
    t = others_third(members)
    started = members[(t < NEVER) & (t <= end) & (rng.random(len(members)) < HOUSEHOLD_START_SHARE)]
    begin2 = others_third(started) + rng.exponential(HOUSEHOLD_START_DAYS, len(started)).astype(np.int64)
    severity2, domain2, begins2, _ = _schedule(rng, started, begin2, domains)
    person = np.concatenate([primary, started])
    severity = np.concatenate([severity, severity2])
    domain = np.vstack([domain, domain2])
    begins = np.vstack([begins, begins2])
    # recovery: after the last domain, for most; then each domain stops within RECOVERY_SPREAD_DAYS
    last = begins[np.arange(len(person)), severity - 1]
    recovers = rng.random(len(person)) < RECOVERY_SHARE
    recovery = np.where(recovers, last + rng.lognormal(np.log(RECOVERY_MEDIAN_DAYS), RECOVERY_SIGMA,
                                                       len(person)).astype(np.int64), NEVER)
    spread = rng.integers(0, RECOVERY_SPREAD_DAYS + 1, begins.shape)
    ends = np.where((begins < NEVER) & (recovery[:, None] < NEVER), recovery[:, None] + spread, NEVER)
    return Paths(person=person, severity=severity, domain=domain, begins=begins, ends=ends, recovery=recovery,
                 from_household=np.r_[np.zeros(len(primary), bool), np.ones(len(started), bool)], domains=domains)
