"""What the teams recorded after contacting people who entered crisis (the outcomes delivery)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stratify.contract import Contract
from stratify.synth.behaviour import OUTCOME_ODDS, RECORD_PREFIX
from stratify.synth.cohort import Cohort
from stratify.synth.draws import draw_keys, record_ids, uniform_days
from stratify.synth.people import People
from stratify.synth.tables import contract_table, date_array


def team_outcomes(rng: np.random.Generator, contract: Contract, p: People, c: Cohort, pids: pa.Array,
              lsoa_team: list[str], final_lsoa: np.ndarray, a: int, s: int) -> pa.Table:
    """What teams recorded after contacting some people who entered crisis (not opted out).

    The team is that of the person's latest register row, as the pipeline links it.
    """
    people = c.idx
    entered = (c.level >= 1) & (c.peak <= a) & ~p.opted_out[people] & (p.death[people] > a)
    chosen = np.flatnonzero(entered & (rng.random(len(people)) < 0.35))
    reps = rng.integers(1, 3, len(chosen))
    j = np.repeat(chosen, reps)
    lo = np.clip(np.maximum(c.peak[j] + 14, a - 365), s, a)
    day = np.sort(uniform_days(rng, lo, np.full(len(j), a)))
    order = np.lexsort((c.idx[j], day))
    j, day = j[order], day[order]
    person = c.idx[j]
    teams = pa.array(lsoa_team)
    outcome = pc.take(pa.array(list(OUTCOME_ODDS)), pa.array(draw_keys(rng, OUTCOME_ODDS, len(j))))
    cols = {
        "record_id": record_ids(RECORD_PREFIX["outcomes"], 1, len(j)),
        "person_id": pids.take(pa.array(person)),
        "team": teams.take(pa.array(final_lsoa[person])),
        "event_date": date_array(day),
        "outcome": outcome,
    }
    return contract_table(contract.source("outcomes"), cols, len(j))
