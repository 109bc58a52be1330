"""Event deliveries: each source's history file and its `_2` file of late, corrected and retracted rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from stratify.contract import Contract
from stratify.synth.behaviour import CORRECTED_SHARE, LATE_SHARE, RECORD_PREFIX, RETRACTED_SHARE
from stratify.synth.catalogue import Catalogue
from stratify.synth.details import Detail
from stratify.synth.draws import record_ids
from stratify.synth.events import Events
from stratify.synth.people import People
from stratify.synth.tables import event_table


@dataclass
class Split:
    """Which rows go to the history delivery and which to `_2` (late, corrected, retracted)."""

    history: np.ndarray  # row indices in the history delivery
    late: np.ndarray
    corrected: np.ndarray
    retracted: np.ndarray
    corrected_day: np.ndarray


def _split(rng: np.random.Generator, ev: Events, rows: np.ndarray, a: int, brian: int) -> Split:
    """Hold back some recent rows as late; pick earlier rows to correct or retract (never Brian's)."""
    day = ev.day[rows]
    late = (day >= a - 70) & (day <= a - 10) & (rng.random(len(rows)) < LATE_SHARE)
    u = rng.random(len(rows))
    other = ~late & (ev.person[rows] != brian)
    corrected = other & (u < CORRECTED_SHARE)
    retracted = other & (u >= CORRECTED_SHARE) & (u < CORRECTED_SHARE + RETRACTED_SHARE)
    shift = rng.integers(1, 4, int(corrected.sum()))
    return Split(rows[~late], rows[late], rows[corrected], rows[retracted], ev.day[rows[corrected]] - shift)


# write(source, table, seq): writes `<source>_<as_of>[_<seq>].parquet`, or nothing for an empty table.
Writer = Callable[..., None]


def write_event_deliveries(rng: np.random.Generator, contract: Contract, cat: Catalogue, ev: Events, det: Detail,
                           pids: pa.Array, hh_ids: pa.Array, p: People, a: int, write: Writer) -> tuple[Events, Detail]:
    """Write every event source's two deliveries; return the events and details as the pipeline will see them.

    Record ids follow date order within a source (late rows included). What
    is returned is after the `_2` files are applied: retracted rows gone,
    corrected rows on their corrected day.
    """
    keep = np.ones(len(ev.day), bool)
    eff_day = ev.day.copy()
    for src in contract.event_sources:
        rows = np.flatnonzero(cat.source[ev.etype] == src.name)
        sp = _split(rng, ev, rows, a, p.brian)
        prefix = RECORD_PREFIX.get(src.name, src.name[:3].upper())
        rid_of = np.empty(len(ev.day), dtype=np.int64)
        rid_of[rows] = np.arange(1, len(rows) + 1)  # record ids follow date order, late ones included
        rid = record_ids(prefix, 1, len(rows))
        hist = event_table(cat, src, ev, det, sp.history, rid.take(pa.array(rid_of[sp.history] - 1)),
                           np.zeros(len(sp.history), bool), pids, hh_ids, p.household)
        second_rows = np.concatenate([sp.late, sp.corrected, sp.retracted])
        deleted = np.concatenate([np.zeros(len(sp.late) + len(sp.corrected), bool), np.ones(len(sp.retracted), bool)])
        day_backup = ev.day[sp.corrected].copy()
        ev.day[sp.corrected] = sp.corrected_day
        second = event_table(cat, src, ev, det, second_rows, rid.take(pa.array(rid_of[second_rows] - 1)),
                             deleted, pids, hh_ids, p.household)
        ev.day[sp.corrected] = day_backup
        write(src.name, hist)
        write(src.name, second, 2)
        keep[sp.retracted] = False
        eff_day[sp.corrected] = sp.corrected_day
    eff = Events(ev.person, ev.etype, eff_day, ev.role).take(keep)
    eff_det = Detail(det.end_day[keep], det.los[keep], det.diag[keep], det.amount[keep], det.role[keep])
    return eff, eff_det
