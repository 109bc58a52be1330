"""Arrow tables in the contract's column order and types, and writing them as Parquet deliveries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stratify.contract import Source
from stratify.synth.catalogue import Catalogue
from stratify.synth.details import Detail
from stratify.synth.events import Events

ARROW_TYPES = {"string": pa.string(), "date": pa.date32(), "boolean": pa.bool_(),
               "integer": pa.int32(), "decimal": pa.decimal128(10, 2)}


def date_array(days: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    arr = days.astype("datetime64[D]")
    return pa.array(arr, type=pa.date32(), mask=None if valid is None else ~valid)


def contract_table(source: Source, cols: dict[str, pa.Array], n: int) -> pa.Table:
    """Columns in contract order with contract types; absent optional columns are all null."""
    arrays, fields = [], []
    for col in source.columns:
        typ = ARROW_TYPES[col.type]
        arr = cols.get(col.name)
        arr = pa.nulls(n, typ) if arr is None else arr.cast(typ)
        arrays.append(arr)
        fields.append(pa.field(col.name, typ, nullable=not col.required))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def event_table(cat: Catalogue, source: Source, ev: Events, det: Detail, rows: np.ndarray,
                 record_id: pa.Array, deleted: np.ndarray, pids: pa.Array, hh_ids: pa.Array,
                 person_hh: np.ndarray) -> pa.Table:
    """One event source's delivery from selected rows of the event arrays."""
    names = pa.array([e for _, e in cat.types])
    person = pa.array(ev.person[rows])
    cols: dict[str, pa.Array] = {
        "record_id": record_id,
        "person_id": pc.take(pids, person),
        "event_date": date_array(ev.day[rows]),
        "event_type": pc.take(names, pa.array(ev.etype[rows])),
        "end_date": date_array(det.end_day[rows], det.end_day[rows] >= 0),
        "deleted": pa.array(deleted),
    }
    extra = {c.name for c in source.columns}
    if "role" in extra:
        role = det.role[rows]
        cols["role"] = pc.take(pa.array(cat.roles), pa.array(role.astype(np.int32), mask=role < 0))
    if "diagnosis_code" in extra:
        cols["diagnosis_code"] = pa.array(det.diag[rows], type=pa.string())
    if "length_of_stay_days" in extra:
        los = det.los[rows]
        cols["length_of_stay_days"] = pa.array(los.astype(np.int32), mask=los < 0)
    if "amount_gbp" in extra:
        amt = det.amount[rows]
        cols["amount_gbp"] = pc.cast(pa.array(amt, mask=np.isnan(amt)), pa.decimal128(10, 2))
    if "household_id" in extra:
        no_home = ev.etype[rows] == cat.t("housing", "rough_sleeping")
        cols["household_id"] = pc.take(hh_ids, pa.array(person_hh[ev.person[rows]], mask=no_home))
    return contract_table(source, cols, len(rows))


def month_text(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype("datetime64[D]").astype("datetime64[M]").astype(str))


def write_parquet(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
