"""The people of the place: households, ages, sex, ethnicity, places, vulnerability, deaths, opt-outs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stratify.synth.behaviour import AGE_BANDS, ETHNIC_ODDS, OPTED_OUT_SHARE, SEX_ODDS, YEAR
from stratify.synth.draws import draw_keys


@dataclass
class People:
    """One row per person (index = position); days are days since 1970-01-01."""

    n: int
    household: np.ndarray  # int32 household index
    is_child: np.ndarray
    birth: np.ndarray  # birth day
    age: np.ndarray  # age in years at as_of
    lsoa: np.ndarray  # int32 LSOA index
    sex: np.ndarray
    ethnic: np.ndarray
    vuln: np.ndarray  # multiplier on base rates
    death: np.ndarray  # day of death or INT32_MAX
    opted_out: np.ndarray
    n_households: int
    brian: int  # index of Brian (the last person)


# Household kinds: (odds, adults, max children, adult age range)
HOUSEHOLD_KINDS = (
    (0.30, 1, 0, (18, 90)),
    (0.27, 2, 0, (20, 90)),
    (0.18, 2, 3, (22, 55)),
    (0.08, 1, 3, (18, 50)),
    (0.07, 3, 0, (18, 70)),
    (0.10, 1, 0, (65, 98)),
)


def _households(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lay n people out household by household: (household index, is_child, adult age range kind)."""
    kinds = rng.choice(len(HOUSEHOLD_KINDS), size=n, p=[k[0] for k in HOUSEHOLD_KINDS])
    adults = np.array([k[1] for k in HOUSEHOLD_KINDS])[kinds]
    max_kids = np.array([k[2] for k in HOUSEHOLD_KINDS])[kinds]
    kids = np.where(max_kids > 0, rng.integers(1, np.maximum(max_kids, 1) + 1), 0)
    size = adults + kids
    h = int(np.searchsorted(np.cumsum(size), n)) + 1
    household = np.repeat(np.arange(h, dtype=np.int32), size[:h])[:n]
    first = np.concatenate([[0], np.cumsum(size[:h])[:-1]])
    pos = np.arange(n) - first[household]
    return household, pos >= adults[household], kinds[household]


def make_people(rng: np.random.Generator, n: int, n_lsoa: int, a: int, hist_start: int) -> People:
    """Households, ages, sex, ethnicity, places, vulnerability, deaths and opt-outs."""
    m = n - 1  # the last person is Brian
    household, is_child, kind = _households(rng, m)
    lo = np.array([k[3][0] for k in HOUSEHOLD_KINDS])[kind]
    hi = np.array([k[3][1] for k in HOUSEHOLD_KINDS])[kind]
    age = np.where(is_child, rng.uniform(0, 18, m), lo + (hi - lo) * rng.beta(1.3, 1.8, m))
    n_h = int(household[-1]) + 1
    # LSOAs differ in deprivation: it raises base rates and the chance of joining the risk cohort.
    deprivation = rng.lognormal(0.0, 0.5, n_lsoa)
    hh_lsoa = rng.integers(0, n_lsoa, n_h).astype(np.int32)
    lsoa = hh_lsoa[household]
    vuln = rng.gamma(2.0, 0.5, m) * np.sqrt(deprivation[lsoa])
    # Brian: a single man in his forties with a household of his own.
    household = np.append(household, n_h).astype(np.int32)
    is_child = np.append(is_child, False)
    age = np.append(age, 44.3)
    lsoa = np.append(lsoa, rng.integers(0, n_lsoa)).astype(np.int32)
    vuln = np.append(vuln, 3.0)
    birth = (a - age * YEAR).astype(np.int64)
    sex = draw_keys(rng, SEX_ODDS, n)
    sex[-1] = list(SEX_ODDS).index("M")
    ethnic = draw_keys(rng, ETHNIC_ODDS, n)
    opted = rng.random(n) < OPTED_OUT_SHARE
    opted[-1] = False
    death = _deaths(rng, age, a, hist_start)
    death[-1] = np.iinfo(np.int32).max
    return People(n, household, is_child, birth, age, lsoa, sex, ethnic, vuln, death, opted, n_h + 1, n - 1)


def _deaths(rng: np.random.Generator, age: np.ndarray, a: int, hist_start: int) -> np.ndarray:
    """Gompertz mortality over the history window; day of death or INT32_MAX."""
    years = (a - hist_start) / YEAR
    q = np.clip(np.exp(-10.2 + 0.092 * age), 0, 0.5)
    dies = rng.random(len(age)) < 1 - (1 - q) ** years
    day = rng.integers(hist_start, a + 1, len(age))
    return np.where(dies, day, np.iinfo(np.int32).max).astype(np.int64)


def age_band(age: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.array(AGE_BANDS), age, side="right")
