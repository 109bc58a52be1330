"""The stepwise world's delivery files, in the contract's columns and types, and the world beyond the as-of date.

Deliveries go to `<landing>/<source>/<source>_<YYYYMMDD>.parquet`, one file
per batch (`reporting`). The whole world up to `end` (every event, reported
or not, and deaths after the as-of date) is written, for benchmarks only, to
a folder outside the landing folder that the pipeline never reads.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stratify.contract import Contract
from stratify.synth.tables import contract_table, date_array, month_text, write_parquet
from stratify.worlds.events import Events, Types
from stratify.worlds.mechanics import ETHNIC_CODES, RECORD_PREFIX, SEX_CODES
from stratify.worlds.population import NEVER, Population

EPOCH = date(1970, 1, 1)


def day_date(day: int) -> date:
    return EPOCH + timedelta(days=int(day))


def record_ids(source: str, n: int) -> pa.Array:
    nums = pc.cast(pa.array(np.arange(1, n + 1, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(f"{RECORD_PREFIX[source]}-", pc.utf8_lpad(nums, 9, "0"), "")


def register_table(contract: Contract, pop: Population, pids: pa.Array, hh_ids: pa.Array, upto: int) -> pa.Table:
    """One row per person born by `upto`, deaths up to `upto`."""
    rows = np.flatnonzero(pop.birth <= upto)
    dead = pop.death[rows] <= upto
    cols = {
        "record_id": record_ids("register", pop.n).take(pa.array(rows)),
        "person_id": pids.take(pa.array(rows)),
        "birth_year_month": month_text(pop.birth[rows]),
        "sex": pc.take(pa.array(SEX_CODES), pa.array(pop.sex[rows])),
        "ethnic_group": pc.take(pa.array(ETHNIC_CODES), pa.array(pop.ethnic[rows])),
        "lsoa21": pc.take(pa.array(pop.lsoa_codes), pa.array(pop.lsoa[rows])),
        "household_id": hh_ids.take(pa.array(pop.household[rows])),
        "date_of_death": date_array(np.where(dead, pop.death[rows], 0), dead),
        "opted_out": pa.array(pop.opted_out[rows]),
        "deleted": pa.array(np.zeros(len(rows), bool)),
    }
    return contract_table(contract.source("register"), cols, len(rows))


def event_table(contract: Contract, types: Types, source: str, ev: Events, record_id: pa.Array,
                pids: pa.Array, hh_ids: pa.Array, pop: Population) -> pa.Table:
    src = contract.source(source)
    n = len(ev.day)
    cols: dict[str, pa.Array] = {
        "record_id": record_id,
        "person_id": pc.take(pids, pa.array(ev.person)),
        "event_date": date_array(ev.day),
        "event_type": pc.take(pa.array(types.name), pa.array(ev.etype)),
        "deleted": pa.array(np.zeros(n, bool)),
    }
    names = set(src.column_names)
    if "role" in names:
        role = types.role_of(ev.etype)
        cols["role"] = pc.take(pa.array(types.roles), pa.array(role.astype(np.int32), mask=role < 0))
    if "household_id" in names:
        no_home = types.name[ev.etype] == "rough_sleeping"
        cols["household_id"] = pc.take(hh_ids, pa.array(pop.household[ev.person], mask=no_home))
    return contract_table(src, cols, n)


Write = Callable[[str, date, pa.Table], Path]


def writer(folder: Path, files: list[tuple[str, int]]) -> Write:
    """write(source, delivery date, table): `<folder>/<source>/<source>_<date>.parquet`, nothing if empty."""
    def write(source: str, on: date, table: pa.Table) -> Path:
        path = folder / source / f"{source}_{on:%Y%m%d}.parquet"
        if table.num_rows:
            write_parquet(table, path)
            files.append((f"{source}/{path.name}", table.num_rows))
        return path
    return write


def write_events(write: Write, contract: Contract, types: Types, ev: Events, batch: np.ndarray, file_on: np.ndarray,
                 delivered: np.ndarray, pids: pa.Array, hh_ids: pa.Array, pop: Population,
                 future: tuple[Write, date] | None) -> None:
    """Each source's delivered rows, one file per delivery day; with `future`, every row in one file dated `end`."""
    for src in contract.event_sources:
        rows = np.flatnonzero(types.source[ev.etype] == src.name)
        rows = rows[np.lexsort((ev.person[rows], ev.day[rows], batch[rows]))]  # ids follow arrival order
        rid = record_ids(src.name, len(rows))
        for on in np.unique(file_on[rows][delivered[rows]]):
            mine = np.flatnonzero(delivered[rows] & (file_on[rows] == on))
            write(src.name, day_date(on), event_table(contract, types, src.name, ev.take(rows[mine]),
                                                      rid.take(pa.array(mine)), pids, hh_ids, pop))
        if future is not None:
            fwrite, end = future
            fwrite(src.name, end, event_table(contract, types, src.name, ev.take(rows), rid, pids, hh_ids, pop))


def outcomes_table(contract: Contract, rng: np.random.Generator, pop: Population, pids: pa.Array,
                   person: np.ndarray, day: np.ndarray) -> pa.Table:
    """`contacted` outcomes (they change no list) for the people given, recorded by their own team."""
    team = np.array(pop.lsoa_team)[pop.lsoa[person]]
    cols = {
        "record_id": record_ids("outcomes", len(person)),
        "person_id": pc.take(pids, pa.array(person)),
        "team": pa.array(team.tolist(), type=pa.string()),
        "event_date": date_array(day),
        "outcome": pa.array(["contacted"] * len(person), type=pa.string()),
    }
    return contract_table(contract.source("outcomes"), cols, len(person))


def alive(pop: Population, ev: Events) -> np.ndarray:
    return (ev.day >= pop.birth[ev.person]) & ((pop.death[ev.person] == NEVER) | (ev.day <= pop.death[ev.person]))
