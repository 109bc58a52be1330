"""Load validated deliveries into the warehouse's versioned raw tables.

Each delivery loads in one transaction: either all of its rows take effect
(corrections and deletions by `record_id` included) or none do. The file is
copied into the archive, unchanged, before the transaction commits, so the
warehouse can always be rebuilt from the archive.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from stratify.config import PlaceConfig
from stratify.contract import Source, load_contract
from stratify.ingest.read import read_delivery, typed_table
from stratify.ingest.storage import archive_file
from stratify.run.audit import now_utc
from stratify.run.context import RunContext
from stratify.warehouse.database import SQL_DIR, WarehouseError, connect, run_sql_file

ACCEPTED = ("accepted", "accepted_with_warnings")

# The columns of raw_events that any one event source may lack.
EVENT_COLUMNS = (
    "record_id", "person_id", "event_date", "event_type", "end_date", "diagnosis_code",
    "length_of_stay_days", "role", "household_id", "amount_gbp", "deleted",
)
EVENT_TYPES = {
    "end_date": pa.date32(), "diagnosis_code": pa.string(), "length_of_stay_days": pa.int32(),
    "role": pa.string(), "household_id": pa.string(), "amount_gbp": pa.decimal128(12, 2),
    "deleted": pa.bool_(),
}


def load_deliveries(cfg: PlaceConfig, ctx: RunContext) -> dict:
    """Load this run's accepted deliveries, register first, then in delivery order."""
    with connect(cfg) as con:
        todo = con.execute(
            """
            SELECT delivery_id, source, file_name, delivery_date
            FROM deliveries
            WHERE run_id = $1 AND decision IN ('accepted', 'accepted_with_warnings') AND loaded_at IS NULL
            ORDER BY source <> 'register', delivery_date, delivery_seq, delivery_id
            """,
            [ctx.run_id],
        ).fetchall()
    loaded = []
    for delivery_id, source_name, file_name, delivered_on in todo:
        source = load_contract().source(source_name)
        path = cfg.landing / source_name / file_name
        if not path.exists() and (cfg.archive / source_name / file_name).exists():
            path = cfg.archive / source_name / file_name  # archived by an interrupted earlier attempt
        rows = load_one(cfg, delivery_id, source, path, delivered_on)
        loaded.append({"delivery_id": delivery_id, "source": source_name, "file": file_name, "rows": rows})
    return {"loaded": loaded, "deliveries": len(loaded), "rows": sum(d["rows"] for d in loaded)}


def load_one(cfg: PlaceConfig, delivery_id: int, source: Source, path: Path, delivered_on) -> int:
    """Load one delivery file atomically; returns the number of rows delivered."""
    if not path.exists():
        raise FileNotFoundError(
            f"delivery {delivery_id} ({path.name}) was accepted but is no longer in {path.parent}; "
            "restore it from the sender or the archive, then re-run"
        )
    table = conform(typed_table(read_delivery(path, source), source), source)
    archived = archive_file(cfg, path, source.name, delivered_on)
    sql_file = {"register": "load_register.sql", "event": "load_events.sql", "outcome": "load_outcomes.sql"}[source.kind]
    params = {"delivery_id": delivery_id, "delivered_on": delivered_on, "source": source.name}
    with connect(cfg) as con:
        con.begin()
        try:
            con.register("delivery", table)
            run_sql_file(con, SQL_DIR / sql_file, params, step=f"load {path.name}")
            con.execute(
                "UPDATE deliveries SET loaded_at = $1, stored_path = $2 WHERE delivery_id = $3",
                [now_utc(), str(archived), delivery_id],
            )
            con.unregister("delivery")
            con.commit()
        except Exception:
            con.rollback()
            raise
    if path.exists() and path.resolve() != archived.resolve():
        path.unlink()
    return table.num_rows


def conform(table: pa.Table, source: Source) -> pa.Table:
    """Give an event delivery every raw_events column (NULL where the source has none)."""
    if source.kind != "event":
        return table
    for name in EVENT_COLUMNS:
        if name not in table.column_names:
            if name not in EVENT_TYPES:
                raise WarehouseError(f"{source.name}: typed delivery lacks required column {name}")
            table = table.append_column(name, pa.nulls(table.num_rows, EVENT_TYPES[name]))
    return table
