"""Who has which contact when: background, the cohort's escalations, children, ends of spells.

Events are parallel arrays (person, type, day, role); their delivery columns are
filled in by `stratify.synth.details` and written by `stratify.synth.tables`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stratify.synth.behaviour import AGE_MULT, AGE_MULT_TYPE, BIN_DAYS, HIGH_INTENSITY_MULT, PAIRS, YEAR
from stratify.synth.catalogue import Catalogue
from stratify.synth.cohort import HIGH_INTENSITY_KINDS, Cohort, intensity
from stratify.synth.draws import uniform_days
from stratify.synth.people import People, age_band


@dataclass
class Events:
    """Events as parallel arrays; columns are built from them at the end."""

    person: np.ndarray
    etype: np.ndarray  # index into the global type list
    day: np.ndarray
    role: np.ndarray  # index into the role vocabulary, -1 = default for the type

    @staticmethod
    def concat(parts: list[Events]) -> Events:
        return Events(*(np.concatenate([getattr(x, f) for x in parts]) for f in ("person", "etype", "day", "role")))

    def take(self, mask: np.ndarray) -> Events:
        return Events(self.person[mask], self.etype[mask], self.day[mask], self.role[mask])


def events_of(person: np.ndarray, etype: int | np.ndarray, day: np.ndarray, role: int | np.ndarray = -1) -> Events:
    n = len(person)
    return Events(person.astype(np.int32), np.broadcast_to(np.asarray(etype, dtype=np.int16), (n,)).copy(),
                  day.astype(np.int64), np.broadcast_to(np.asarray(role, dtype=np.int8), (n,)).copy())


def background(rng: np.random.Generator, cat: Catalogue, p: People, lo: np.ndarray, hi: np.ndarray) -> Events:
    """Constant-rate contacts of everyone: one Poisson count per person and type, dates uniform."""
    band = age_band(p.age)
    years = np.clip(hi - lo + 1, 0, None) / YEAR
    parts = []
    for k, (source, et) in enumerate(cat.types):
        base = cat.rate[k].base
        if base <= 0:
            continue
        mult = np.array(AGE_MULT_TYPE.get((source, et), AGE_MULT.get(source, (1, 1, 1, 1))))[band]
        counts = rng.poisson(base * mult * p.vuln * years)
        who = np.repeat(np.arange(p.n), counts)
        parts.append(events_of(who, k, uniform_days(rng, lo[who], hi[who])))
    return Events.concat(parts)


def cohort_events(rng: np.random.Generator, cat: Catalogue, c: Cohort, s: int, a: int) -> Events:
    """Time-varying contacts of the risk cohort on 30-day bins (rising, crisis, recovery)."""
    edges = np.append(np.arange(s, a + 1, BIN_DAYS), a + 1)
    width = np.diff(edges)
    mid = edges[:-1] + width / 2
    hi_kind = {name: i for i, name in enumerate(HIGH_INTENSITY_KINDS)}
    parts = []
    for k in range(len(cat.types)):
        r = cat.rate[k]
        if r.crisis <= 0:
            continue
        rate = np.full(len(c.idx), r.crisis)
        role = np.full(len(c.idx), -1, dtype=np.int8)
        if k in cat.evidence:
            d, roles = cat.evidence[k]
            if roles:  # e.g. violence as victim: others still meet the type, in other roles
                rate *= np.where(c.domains[:, d], 1.0, 0.3)
                role = np.where(c.domains[:, d], cat.role(roles[0]), -1).astype(np.int8)
            else:
                rate *= c.domains[:, d]
        elif r.affinity in cat.domain_names:
            rate *= np.where(c.domains[:, cat.domain_names.index(r.affinity)], 1.0, 0.25)
        rate *= _high_intensity_mult(cat, k, c.high_intensity, hi_kind)
        expected = rate[:, None] * intensity(c, r.stage, mid) * (width / YEAR)[None, :]
        counts = rng.poisson(expected)
        i, b = np.nonzero(counts)
        n = counts[i, b]
        i, b = np.repeat(i, n), np.repeat(b, n)
        day = edges[b] + np.floor(rng.random(len(b)) * width[b]).astype(np.int64)
        parts.append(events_of(c.idx[i], k, day, role[i]))
    return Events.concat(parts)


def _high_intensity_mult(cat: Catalogue, k: int, hi: np.ndarray, hi_kind: dict[str, int]) -> np.ndarray:
    """Frequent attenders: A&E, police or homelessness contacts several times as often."""
    source, et = cat.types[k]
    kind = None
    if (source, et) == ("health", "ae_attendance"):
        kind = "ae"
    elif source == "police":
        kind = "police"
    elif k in cat.evidence and cat.domain_names[cat.evidence[k][0]] == "homelessness":
        kind = "homelessness"
    if kind is None:
        return np.ones(len(hi))
    return np.where(hi == hi_kind[kind], HIGH_INTENSITY_MULT, 1.0)


def household_children(rng: np.random.Generator, cat: Catalogue, p: People, c: Cohort) -> Events:
    """Children's social care around a parent's escalation, mirrored on the parent as parent_carer.

    Referral during the parent's escalation, then child in need, then (for
    some) child protection and (for fewer) being looked after.
    """
    parent_of_hh = np.full(p.n_households, -1)
    is_crisis = c.archetype != "near_miss"
    order = np.argsort(is_crisis, kind="stable")  # crisis parents win ties
    parent_of_hh[p.household[c.idx[order]]] = order
    kids = np.flatnonzero(p.is_child & (parent_of_hh[p.household] >= 0))
    j = parent_of_hh[p.household[kids]]
    p_ref = np.where(is_crisis[j], 0.6, 0.25)
    keep = rng.random(len(kids)) < p_ref
    kids, j = kids[keep], j[keep]
    n = len(kids)
    esc, peak = c.escalation[j], c.peak[j]
    referral = esc + (rng.random(n) * 0.8 * (peak - esc)).astype(np.int64)
    cin = referral + rng.integers(14, 61, n)
    has_cin = rng.random(n) < 0.8
    cp = cin + rng.integers(30, 181, n)
    has_cp = has_cin & is_crisis[j] & (rng.random(n) < 0.5)
    lac = cp + rng.integers(30, 366, n)
    has_lac = has_cp & (rng.random(n) < 0.2)
    parents = c.idx[j]
    subject, carer = cat.role("subject"), cat.role("parent_carer")
    steps = [("child_referral", np.ones(n, bool), referral), ("child_in_need_start", has_cin, cin),
             ("child_protection_start", has_cp, cp), ("looked_after_start", has_lac, lac)]
    parts = []
    for et, mask, day in steps:
        k = cat.t("social_care", et)
        parts.append(events_of(kids[mask], k, day[mask], subject))
        if et in ("child_referral", "child_protection_start"):
            parts.append(events_of(parents[mask], k, day[mask], carer))
    return Events.concat(parts)


def other_children(rng: np.random.Generator, cat: Catalogue, p: People, s: int, a: int) -> Events:
    """Background children in need and care leavers, outside the cohort's households."""
    kids = np.flatnonzero(p.is_child & (rng.random(p.n) < 0.004))
    ref = rng.integers(s, a + 1, len(kids))
    cin = ref + rng.integers(14, 61, len(kids))
    young = np.flatnonzero(~p.is_child & (p.age < 21.5) & (rng.random(p.n) < 0.01))
    eighteen = p.birth[young] + int(18 * YEAR)
    leaver = uniform_days(rng, np.maximum(eighteen, s), np.full(len(young), a))
    subject = cat.role("subject")
    return Events.concat([
        events_of(kids, cat.t("social_care", "child_referral"), ref, subject),
        events_of(kids, cat.t("social_care", "child_in_need_start"), cin, subject),
        events_of(young, cat.t("social_care", "care_leaver"), leaver, subject),
    ])


def pair_ends(rng: np.random.Generator, cat: Catalogue, ev: Events, last: np.ndarray) -> tuple[Events, np.ndarray]:
    """End events for starts (treatment exit, TA end, CP end, LAC end); returns them and end days of every row.

    An end only exists once it has happened (not after `last`, the person's
    last possible day).
    """
    end_day = np.full(len(ev.day), -1, dtype=np.int64)
    parts = []
    for (source, start), (end, p_end, lo, hi) in PAIRS.items():
        rows = np.flatnonzero(ev.etype == cat.t(source, start))
        day = ev.day[rows] + rng.integers(lo, hi + 1, len(rows))
        ok = (rng.random(len(rows)) < p_end) & (day <= last[ev.person[rows]])
        end_day[rows[ok]] = day[ok]
        parts.append(events_of(ev.person[rows[ok]], cat.t(source, end), day[ok], ev.role[rows[ok]]))
    return Events.concat(parts), end_day
