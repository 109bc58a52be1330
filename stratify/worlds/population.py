"""The stepwise world's people: households, ages, sex, ethnicity, LSOAs, teams, deaths and opt-outs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stratify.worlds.mechanics import (
    CHILD_SHARE_OF_EXTRA_MEMBERS,
    DEATH_RATE_PER_YEAR_OVER_75,
    ETHNIC_ODDS,
    HOUSEHOLD_SIZE_ODDS,
    OPTED_OUT_SHARE,
    PEOPLE_PER_TEAM,
    RESIDENTS_PER_LSOA,
    SEX_ODDS,
)

NEVER = np.iinfo(np.int32).max
YEAR = 365.25


@dataclass
class Population:
    """One row per person; days are days since 1970-01-01."""

    n: int
    household: np.ndarray  # household index
    n_households: int
    birth: np.ndarray  # birth day
    is_child: np.ndarray  # under 18 on the last simulated day
    lsoa: np.ndarray
    sex: np.ndarray
    ethnic: np.ndarray
    death: np.ndarray  # day of death, NEVER if alive at the end
    opted_out: np.ndarray
    lsoa_codes: list[str]
    lsoa_team: list[str]


def make_population(rng: np.random.Generator, n: int, start: int, end: int) -> Population:
    """`n` people in households of 1 to 5, households placed in LSOAs, LSOAs in teams of ~12,500 people."""
    sizes = np.array(list(HOUSEHOLD_SIZE_ODDS))
    draws = rng.choice(sizes, size=n, p=np.array(list(HOUSEHOLD_SIZE_ODDS.values())))
    household = np.repeat(np.arange(len(draws)), draws)[:n]
    n_households = int(household[-1]) + 1
    first_of_household = np.r_[True, household[1:] != household[:-1]]
    is_child = ~first_of_household & (rng.random(n) < CHILD_SHARE_OF_EXTRA_MEMBERS)
    age_years = np.where(is_child, rng.uniform(0, 17.5, n), np.clip(rng.gamma(4.0, 11.0, n) + 18, 18, 100))
    birth = (end - age_years * YEAR).astype(np.int64)
    teams = max(3, round(n / PEOPLE_PER_TEAM))
    n_lsoa = max(round(n / RESIDENTS_PER_LSOA), 2 * teams)
    lsoa_of_household = rng.integers(0, n_lsoa, n_households)
    old = age_years > 75
    dies = old & (rng.random(n) < DEATH_RATE_PER_YEAR_OVER_75 * (end - start) / YEAR)
    death = np.full(n, NEVER, dtype=np.int64)
    death[dies] = rng.integers(start, end + 1, int(dies.sum()))
    team_codes = [f"NT{i + 1:02d}" for i in range(teams)]
    return Population(
        n=n, household=household, n_households=n_households, birth=birth, is_child=is_child,
        lsoa=lsoa_of_household[household],
        sex=rng.choice(len(SEX_ODDS), size=n, p=SEX_ODDS), ethnic=rng.choice(len(ETHNIC_ODDS), size=n, p=ETHNIC_ODDS),
        death=death, opted_out=rng.random(n) < OPTED_OUT_SHARE,
        lsoa_codes=[f"E01{40_000 + i:06d}" for i in range(n_lsoa)],
        lsoa_team=[team_codes[i * teams // n_lsoa] for i in range(n_lsoa)],
    )
