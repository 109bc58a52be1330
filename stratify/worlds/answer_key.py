"""The stepwise world's answer key: each person's path and latent escalation, never read by the pipeline.

`latent_escalation` is the chance of a first crisis within six months of the
as-of date given what the world knows then and no later: the path's
severity, the domains begun so far and how long ago the last one began (the
gaps still to come are drawn again, the current one conditioned on having
lasted so far), and the person's bursts of contacts (a burst of A&E or police
contacts can meet a high-intensity rule). Household effects still to come
are left out. It is a ceiling to rank against, not a model.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from scipy.special import zeta
from scipy.stats import norm

from stratify.synth.tables import date_array
from stratify.worlds.mechanics import (
    BURST_TYPES,
    BURST_ZIPF_A,
    BURSTS_PER_YEAR,
    GAP_MEDIAN_DAYS,
    GAP_SIGMA,
    YEAR_DAYS,
)
from stratify.worlds.paths import MAX_DOMAINS, Paths
from stratify.worlds.population import NEVER, Population

HORIZON_DAYS = 182
DRAWS = 200


def _zipf_at_least(k: int) -> float:
    return float(zeta(BURST_ZIPF_A, k) / zeta(BURST_ZIPF_A, 1))


def path_chance(rng: np.random.Generator, paths: Paths, as_of: int) -> np.ndarray:
    """Per path: the chance its third domain begins in (as_of, as_of + 182], from its state on `as_of`."""
    m = len(paths.person)
    begun = (paths.begins <= as_of).sum(axis=1)
    chance = np.zeros(m)
    todo = np.flatnonzero((paths.severity >= 3) & (begun < 3) & (begun > 0))
    last = paths.begins[todo, np.maximum(begun[todo] - 1, 0)]
    elapsed = np.maximum(as_of - last, 0).astype(float)
    # the current gap, conditioned on being longer than `elapsed`: inverse CDF above F(elapsed)
    f0 = norm.cdf((np.log(np.maximum(elapsed, 1e-9)) - np.log(GAP_MEDIAN_DAYS)) / GAP_SIGMA)
    u = f0[:, None] + rng.random((len(todo), DRAWS)) * (1 - f0[:, None])
    current = np.exp(np.log(GAP_MEDIAN_DAYS) + GAP_SIGMA * norm.ppf(np.clip(u, 1e-12, 1 - 1e-12)))
    need = 3 - begun[todo]  # domains still to begin, the current one included
    more = rng.lognormal(np.log(GAP_MEDIAN_DAYS), GAP_SIGMA, (len(todo), DRAWS, MAX_DOMAINS)).cumsum(axis=2)
    extra = np.where(need[:, None] > 1, more[np.arange(len(todo)), :, np.maximum(need - 2, 0)], 0.0)
    third = last[:, None] + current + extra
    chance[todo] = ((third > as_of) & (third <= as_of + HORIZON_DAYS)).mean(axis=1)
    # not yet begun: the whole schedule is drawn again from its start day
    waiting = np.flatnonzero((paths.severity >= 3) & (begun == 0) & (paths.begins[:, 0] <= as_of + HORIZON_DAYS))
    gaps = rng.lognormal(np.log(GAP_MEDIAN_DAYS), GAP_SIGMA, (len(waiting), DRAWS, 2)).sum(axis=2)
    third = paths.begins[waiting, 0][:, None] + gaps
    chance[waiting] = ((third > as_of) & (third <= as_of + HORIZON_DAYS)).mean(axis=1)
    # three begun already: in crisis, and seen while their domain events stay within a year
    reached = (paths.third <= as_of) & (paths.recovery > as_of - 300)
    chance[reached] = 1.0
    return chance


def answer_key_table(rng: np.random.Generator, pop: Population, paths: Paths, propensity: np.ndarray,
                     pids: pa.Array, hh_ids: pa.Array, as_of: int) -> pa.Table:
    n = pop.n
    burst_rate = BURSTS_PER_YEAR * propensity * (HORIZON_DAYS + 90) / YEAR_DAYS
    burst_share = (BURST_TYPES.get(("health", "ae_attendance"), 0) * _zipf_at_least(5)
                   + BURST_TYPES.get(("police", "incident"), 0) * _zipf_at_least(6))
    noise = 1 - np.exp(-burst_rate * burst_share * np.where(pop.is_child, 0.2, 1.0))
    on_path = np.zeros(n, bool)
    on_path[paths.person] = True

    def per_person(values: np.ndarray, fill) -> np.ndarray:
        out = np.full(n, fill, dtype=values.dtype)
        out[paths.person] = values
        return out

    chance = per_person(path_chance(rng, paths, as_of), 0.0)
    latent = 1 - (1 - chance) * (1 - noise)
    begins = per_person(paths.begins[:, 0], NEVER)
    third = per_person(paths.third, NEVER)
    recovery = per_person(paths.recovery, NEVER)
    begun = per_person((paths.begins <= as_of).sum(axis=1), 0)
    dead = pop.death <= as_of
    return pa.table({
        "person_id": pids,
        "household_id": hh_ids.take(pa.array(pop.household)),
        "on_path": pa.array(on_path),
        "severity": pa.array(per_person(paths.severity, 0).astype(np.int8)),
        "from_household": pa.array(per_person(paths.from_household, False)),
        "path_begins": date_array(begins, begins < NEVER),
        "domains_begun_by_as_of": pa.array(begun.astype(np.int8)),
        "third_domain_date": date_array(third, third < NEVER),
        "recovery_date": date_array(recovery, recovery < NEVER),
        "noise_propensity": pa.array(np.round(propensity, 4)),
        "latent_escalation": pa.array(np.round(latent, 4)),
        "in_crisis_at_as_of": pa.array((third <= as_of) & ~dead & (recovery > as_of - 300)),
        "third_domain_within_6_months": pa.array((third > as_of) & (third <= as_of + HORIZON_DAYS) & ~dead),
        "date_of_death": date_array(np.where(dead, pop.death, 0), dead),
    })
