"""Brian: one person with ten years of very frequent contact with every agency."""

from __future__ import annotations

import numpy as np

from stratify.synth.behaviour import BRIAN
from stratify.synth.catalogue import Catalogue
from stratify.synth.draws import pseudonyms
from stratify.synth.events import Events, events_of
from stratify.synth.people import People


def brian_person_id(seed: int) -> str:
    """Brian's pseudonym for a seed: the same whatever the number of people."""
    return pseudonyms(seed, "brian", 1)[0]


def brian_events(rng: np.random.Generator, cat: Catalogue, p: People, a: int, lo: int) -> Events:
    """Brian's ten years: fixed counts per type, dates uniform over the whole decade."""
    parts = []
    for key, count in BRIAN.items():
        parts.append(events_of(np.full(count, p.brian), cat.t(*key), rng.integers(lo, a + 1, count)))
    ev = Events.concat(parts)
    # Violence as a victim, as the contract's domain rule asks.
    for k, (_d, roles) in cat.evidence.items():
        if roles:
            m = (ev.etype == k) & (rng.random(len(ev.day)) < 0.6)
            ev.role[m] = cat.role(roles[0])
    return ev
