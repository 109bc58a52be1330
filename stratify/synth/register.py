"""The person register: one row per person, and a second delivery re-sending the movers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stratify.contract import Contract
from stratify.synth.behaviour import ETHNIC_ODDS, MOVING_HOUSEHOLD_SHARE, RECORD_PREFIX, SEX_ODDS
from stratify.synth.draws import pseudonyms, record_ids
from stratify.synth.people import People
from stratify.synth.tables import contract_table, date_array, month_text


@dataclass
class Register:
    history: pa.Table
    second: pa.Table
    movers: int
    final_lsoa: np.ndarray


def make_register(rng: np.random.Generator, contract: Contract, p: People, pids: pa.Array, hh_ids: list[str],
              seed: int, n_lsoa: int, lsoa_codes: list[str], a: int) -> Register:
    """One register row per person; the `_2` delivery re-sends movers' rows with a new LSOA and household."""
    src = contract.source("register")
    codes = pa.array(lsoa_codes)
    rid = record_ids(RECORD_PREFIX["register"], 1, p.n)
    dead = p.death <= a

    def table(rows: np.ndarray, lsoa: np.ndarray, hh: pa.Array) -> pa.Table:
        cols = {
            "record_id": rid.take(pa.array(rows)),
            "person_id": pids.take(pa.array(rows)),
            "birth_year_month": month_text(p.birth[rows]),
            "sex": pc.take(pa.array(list(SEX_ODDS)), pa.array(p.sex[rows])),
            "ethnic_group": pc.take(pa.array(list(ETHNIC_ODDS)), pa.array(p.ethnic[rows])),
            "lsoa21": pc.take(codes, pa.array(lsoa[rows])),
            "household_id": hh,
            "date_of_death": date_array(np.minimum(p.death[rows], a), dead[rows]),
            "opted_out": pa.array(p.opted_out[rows]),
            "deleted": pa.array(np.zeros(len(rows), bool)),
        }
        return contract_table(src, cols, len(rows))

    hh_arr = pa.array(hh_ids)
    everyone = np.arange(p.n)
    history = table(everyone, p.lsoa, hh_arr.take(pa.array(p.household)))
    moving_hh = rng.random(p.n_households) < MOVING_HOUSEHOLD_SHARE
    moving_hh[p.household[p.brian]] = False
    movers = np.flatnonzero(moving_hh[p.household] & ~dead)
    new_lsoa = p.lsoa.copy()
    hh_shift = rng.integers(1, max(n_lsoa, 2), p.n_households)
    new_lsoa[movers] = (p.lsoa[movers] + hh_shift[p.household[movers]]) % n_lsoa
    new_hh = pa.array(pseudonyms(seed, "household-moved", p.n_households))
    second = table(movers, new_lsoa, new_hh.take(pa.array(p.household[movers])))
    return Register(history, second, len(movers), new_lsoa)
