"""Events of the stepwise world: a path's domain events and warnings, children's referrals, background noise.

Every event is (person, contract event type, day, role). Background noise
never uses an event type that evidences a disadvantage domain, so a domain in
the deliveries always comes from a path (the answer key's consistency test
relies on it); noise can still meet a high-intensity crisis rule (a burst of
A&E attendances), as heavy users of a service do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stratify.contract import Contract
from stratify.worlds.mechanics import (
    BURST_DAYS,
    BURST_MAX,
    BURST_TYPES,
    BURST_ZIPF_A,
    BURSTS_PER_YEAR,
    CHILD_REFERRAL_SHARE,
    DOMAIN_EVENT_EVERY_DAYS,
    DOMAIN_EVENTS,
    NOISE_RATES,
    PROPENSITY_SIGMA,
    ROLE_VICTIM_TYPES,
    WARNING_EVERY_DAYS,
    WARNING_LEAD_MEDIAN_DAYS,
    WARNINGS,
    YEAR_DAYS,
)
from stratify.worlds.paths import MAX_DOMAINS, Paths
from stratify.worlds.population import NEVER, Population


class Types:
    """The contract's event types under one index, and the roles the role columns take."""

    def __init__(self, contract: Contract):
        self.pairs = [(s.name, e) for s in contract.event_sources for e in s.event_types]
        self.index = {t: i for i, t in enumerate(self.pairs)}
        self.source = np.array([s for s, _ in self.pairs])
        self.name = np.array([e for _, e in self.pairs])
        roles: list[str] = []
        for s in contract.event_sources:
            if "role" in s.column_names:
                roles += [c for c in s.column("role").codes or () if c not in roles]
        self.roles = roles
        for table in (DOMAIN_EVENTS, WARNINGS):
            for odds in table.values():
                missing = set(odds) - set(self.index)
                if missing:
                    raise ValueError(f"worlds: {sorted(missing)} are not event types of contract v{contract.version}")
        if set(NOISE_RATES) - set(self.index) or set(BURST_TYPES) - set(self.index):
            raise ValueError(f"worlds: a noise event type is not in contract v{contract.version}")

    def role_of(self, etype: np.ndarray) -> np.ndarray:
        """A role index for sources with a role column (-1 for the others): victims where a domain needs one."""
        role = np.full(len(etype), -1, dtype=np.int16)
        police = self.source[etype] == "police"
        care = self.source[etype] == "social_care"
        victim = np.isin(self.name[etype], ROLE_VICTIM_TYPES)
        suspect = np.isin(self.name[etype], ("arrest", "custody", "other_crime", "asb_report"))
        role[police] = self.roles.index("subject")
        role[police & victim] = self.roles.index("victim")
        role[police & suspect] = self.roles.index("suspect")
        role[care] = self.roles.index("subject")
        return role


@dataclass
class Events:
    person: np.ndarray
    etype: np.ndarray
    day: np.ndarray

    @staticmethod
    def concat(parts: list[Events]) -> Events:
        return Events(*(np.concatenate([getattr(p, f) for p in parts]).astype(np.int64)
                        for f in ("person", "etype", "day")))

    def take(self, rows: np.ndarray) -> Events:
        return Events(self.person[rows], self.etype[rows], self.day[rows])


def _pick(rng: np.random.Generator, types: Types, odds: dict, n: int) -> np.ndarray:
    keys = list(odds)
    p = np.array(list(odds.values()), dtype=float)
    return np.array([types.index[k] for k in keys])[rng.choice(len(keys), size=n, p=p / p.sum())]


def _spread(rng: np.random.Generator, person: np.ndarray, lo: np.ndarray, hi: np.ndarray, every: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """Poisson(length / every) days uniform in [lo, hi] per interval (empty intervals give none)."""
    length = np.maximum(hi - lo, 0)
    n = rng.poisson(length / every)
    who = np.repeat(np.arange(len(person)), n)
    day = lo[who] + np.floor(rng.random(len(who)) * (length[who] + 1)).astype(np.int64)
    return person[who], day


def path_events(rng: np.random.Generator, types: Types, paths: Paths, start: int, end: int) -> Events:
    """Each domain's first event on the day it begins, more while active, and warnings leading into it."""
    parts = []
    for j in range(MAX_DOMAINS):
        has = paths.begins[:, j] < NEVER
        for d, name in enumerate(paths.domains):
            rows = np.flatnonzero(has & (paths.domain[:, j] == d))
            if not len(rows) or name not in DOMAIN_EVENTS:
                continue
            person, begin = paths.person[rows], paths.begins[rows, j]
            stop = np.minimum(paths.ends[rows, j], end)
            more_p, more_d = _spread(rng, person, begin + 1, stop, DOMAIN_EVENT_EVERY_DAYS)
            first_p, first_d = person, begin
            p = np.concatenate([first_p, more_p])
            parts.append(Events(p, _pick(rng, types, DOMAIN_EVENTS[name], len(p)), np.concatenate([first_d, more_d])))
            lead = rng.lognormal(np.log(WARNING_LEAD_MEDIAN_DAYS), 0.5, len(rows)).astype(np.int64)
            wp, wd = _spread(rng, person, begin - lead, begin - 1, WARNING_EVERY_DAYS)
            parts.append(Events(wp, _pick(rng, types, WARNINGS[name], len(wp)), wd))
    ev = Events.concat(parts) if parts else Events(*(np.empty(0, np.int64),) * 3)
    return ev.take((ev.day >= start) & (ev.day <= end))


def child_events(rng: np.random.Generator, types: Types, pop: Population, paths: Paths, end: int) -> Events:
    """Children of a household where an adult reaches three domains: a referral, and often a child-in-need plan."""
    third = np.full(pop.n_households, NEVER, dtype=np.int64)
    np.minimum.at(third, pop.household[paths.person], paths.third)
    kids = np.flatnonzero(pop.is_child & (third[pop.household] <= end))
    kids = kids[rng.random(len(kids)) < CHILD_REFERRAL_SHARE]
    referral = third[pop.household[kids]] + rng.exponential(60, len(kids)).astype(np.int64)
    plan = rng.random(len(kids)) < 0.5
    day = np.concatenate([referral, referral[plan] + rng.exponential(30, int(plan.sum())).astype(np.int64)])
    etype = np.concatenate([np.full(len(kids), types.index[("social_care", "child_referral")]),
                            np.full(int(plan.sum()), types.index[("social_care", "child_in_need_start")])])
    return Events(np.concatenate([kids, kids[plan]]), etype, day)


def noise_events(rng: np.random.Generator, types: Types, pop: Population, start: int, end: int
                 ) -> tuple[Events, np.ndarray]:
    """Background contacts and each person's propensity (log-normal, mean 1, heavy right tail), with bursts."""
    lo = np.maximum(pop.birth, start)
    hi = np.minimum(pop.death, end)
    years = np.maximum(hi - lo, 0) / YEAR_DAYS
    propensity = rng.lognormal(-PROPENSITY_SIGMA ** 2 / 2, PROPENSITY_SIGMA, pop.n)
    parts = []
    for key, rate in NOISE_RATES.items():
        factor = np.where(pop.is_child, 0.4 if key[0] == "health" else 0.0, 1.0)
        n = rng.poisson(rate * propensity * years * factor)
        who = np.repeat(np.arange(pop.n), n)
        day = lo[who] + np.floor(rng.random(len(who)) * (hi[who] - lo[who] + 1)).astype(np.int64)
        parts.append(Events(who, np.full(len(who), types.index[key]), day))
    bursts = rng.poisson(BURSTS_PER_YEAR * propensity * years * np.where(pop.is_child, 0.2, 1.0))
    who = np.repeat(np.arange(pop.n), bursts)
    centre = lo[who] + np.floor(rng.random(len(who)) * (hi[who] - lo[who] + 1)).astype(np.int64)
    size = np.minimum(rng.zipf(BURST_ZIPF_A, len(who)), BURST_MAX)
    kind = _pick(rng, types, BURST_TYPES, len(who))
    member = np.repeat(np.arange(len(who)), size)
    parts.append(Events(who[member], kind[member], centre[member] + rng.integers(0, BURST_DAYS, len(member))))
    ev = Events.concat(parts)
    return ev.take((ev.day >= lo[ev.person]) & (ev.day <= hi[ev.person])), propensity
