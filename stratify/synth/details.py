"""The optional columns of event rows: lengths of stay, end dates, diagnoses, amounts, roles."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stratify.synth.behaviour import (
    ADMISSION_MEAN_LOS,
    CODED_SHARE,
    DIAGNOSES,
    POLICE_ROLES,
    SPELLS,
    SUBSTANCE_CODED_SHARE,
)
from stratify.synth.catalogue import Catalogue
from stratify.synth.draws import draw_keys
from stratify.synth.events import Events


@dataclass
class Detail:
    """The optional columns of events, decided once for all rows."""

    end_day: np.ndarray  # -1 = null
    los: np.ndarray  # -1 = null
    diag: np.ndarray  # object array of str or None
    amount: np.ndarray  # float, nan = null
    role: np.ndarray  # index into the role vocabulary, -1 = null


def fill_details(rng: np.random.Generator, cat: Catalogue, ev: Events, end_day: np.ndarray,
             substance_person: np.ndarray, last: np.ndarray) -> Detail:
    """Fill roles, diagnoses, lengths of stay, end dates and arrears amounts from the type of each row."""
    n = len(ev.day)
    los = np.full(n, -1, dtype=np.int64)
    for et, mean in ADMISSION_MEAN_LOS.items():
        rows = np.flatnonzero(ev.etype == cat.t("health", et))
        stay = rng.geometric(1 / (mean + 1), len(rows)) - 1
        done = ev.day[rows] + stay <= last[ev.person[rows]]
        los[rows[done]] = stay[done]
        end_day[rows[done]] = ev.day[rows[done]] + stay[done]
    for key, (lo, hi) in SPELLS.items():
        rows = np.flatnonzero(ev.etype == cat.t(*key))
        end = ev.day[rows] + rng.integers(lo, hi + 1, len(rows))
        done = end <= last[ev.person[rows]]
        end_day[rows[done]] = end[done]
    amount = np.full(n, np.nan)
    rows = np.flatnonzero(ev.etype == cat.t("housing", "rent_arrears"))
    amount[rows] = np.round(np.clip(rng.lognormal(np.log(450), 0.8, len(rows)), 5, 100_000), 2)
    return Detail(end_day, los, _diagnoses(rng, cat, ev, substance_person), amount, _roles(rng, cat, ev))


def _diagnoses(rng: np.random.Generator, cat: Catalogue, ev: Events, substance_person: np.ndarray) -> np.ndarray:
    """ICD-10 codes on coded health types; substance users' contacts often carry F1x codes."""
    diag = np.full(len(ev.day), None, dtype=object)
    for et, codes in DIAGNOSES.items():
        if ("health", et) not in cat.index:
            continue
        rows = np.flatnonzero(ev.etype == cat.t("health", et))
        coded = rows[rng.random(len(rows)) < CODED_SHARE]
        diag[coded] = np.array(codes, dtype=object)[rng.integers(0, len(codes), len(coded))]
    if cat.substance_codes:
        health = np.isin(ev.etype, [cat.t("health", e) for e in ("ae_attendance", "emergency_admission",
                                                                 "substance_treatment_start", "substance_treatment_exit")])
        rows = np.flatnonzero(health & substance_person[ev.person])
        rows = rows[rng.random(len(rows)) < SUBSTANCE_CODED_SHARE]
        substance = np.array(cat.substance_codes, dtype=object)
        diag[rows] = substance[rng.integers(0, len(substance), len(rows))]
    return diag


def _roles(rng: np.random.Generator, cat: Catalogue, ev: Events) -> np.ndarray:
    """Rows without a role yet: police by the type's odds, social care as the subject; others null."""
    role = ev.role.astype(np.int8).copy()
    for et, odds in POLICE_ROLES.items():
        rows = np.flatnonzero((ev.etype == cat.t("police", et)) & (role < 0))
        picks = draw_keys(rng, odds, len(rows))
        role[rows] = np.array([cat.role(r) for r in odds], dtype=np.int8)[picks]
    sc = np.isin(ev.etype, [cat.t("social_care", e) for e in cat.contract.source("social_care").event_types])
    role[sc & (role < 0)] = cat.role("subject")
    no_role = ~np.isin(cat.source[ev.etype], [s.name for s in cat.contract.event_sources if "role" in s.column_names])
    role[no_role] = -1
    return role
