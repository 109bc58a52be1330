"""Small builders shared by the unit tests: a place on disk and hand-made warehouse rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb

from stratify.config import PlaceConfig, load_config


def write_place(tmp: Path, teams: dict[str, str] | None = None, extra: str = "") -> PlaceConfig:
    """A place config in `tmp` with a neighbourhoods file (lsoa21 -> team)."""
    teams = teams or {"E01000001": "NT01", "E01000002": "NT02"}
    (tmp / "neighbourhoods.csv").write_text(
        "lsoa21,team\n" + "".join(f"{k},{v}\n" for k, v in teams.items()), encoding="utf-8"
    )
    (tmp / "place.yaml").write_text(
        "place: test\nlanding: landing\nwarehouse: wh.duckdb\nout: out\n"
        "neighbourhoods: neighbourhoods.csv\ncapacity:\n  default: 5\n" + extra,
        encoding="utf-8",
    )
    return load_config(tmp / "place.yaml")


def pid(n: int) -> str:
    """A valid 64-hex pseudonym for person n."""
    return f"{n:064x}"


def add_person(con: duckdb.DuckDBPyConnection, n: int, lsoa: str = "E01000001", household: int | None = None,
               born: str = "1980-01", opted_out: bool = False, died: date | None = None,
               delivered: date = date(2026, 1, 1), delivery_id: int = 1) -> str:
    p = pid(n)
    con.execute(
        "INSERT INTO raw_register (record_id, person_id, birth_year_month, sex, ethnic_group, lsoa21, household_id, "
        "date_of_death, opted_out, delivery_id, delivered_on) VALUES ($1, $2, $3, 'F', 'W', $4, $5, $6, $7, $8, $9)",
        [f"reg{n}", p, born, lsoa, pid(10_000 + household) if household is not None else None, died, opted_out,
         delivery_id, delivered],
    )
    return p


def add_event(con: duckdb.DuckDBPyConnection, person: str, source: str, event_type: str, on: date,
              role: str | None = None, diagnosis: str | None = None, delivered: date | None = None,
              record_id: str | None = None, delivery_id: int = 1) -> None:
    rid = record_id or f"{source}-{person[-6:]}-{event_type}-{on.isoformat()}-{role}"
    con.execute(
        "INSERT INTO raw_events (source, record_id, person_id, event_date, event_type, role, diagnosis_code, "
        "delivery_id, delivered_on) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [source, rid, person, on, event_type, role, diagnosis, delivery_id, delivered or on],
    )


@contextmanager
def no_settle_pause() -> Iterator[None]:
    """Discovery without its settle pause (2 s a run): for test nights where no file is being written.

    `discover_deliveries` looks at each file twice, `settle_seconds` apart,
    to leave alone a file still being written. A test that writes during
    discovery must keep the pause; any other night only waits for nothing.
    The pipeline looks the stage function up when it runs it, so replacing
    the module attribute is enough.
    """
    import stratify.ingest.discover

    real = stratify.ingest.discover.discover_deliveries
    stratify.ingest.discover.discover_deliveries = lambda cfg, ctx: real(cfg, ctx, settle_seconds=0)
    try:
        yield
    finally:
        stratify.ingest.discover.discover_deliveries = real


RAW_TABLES = ("raw_register", "raw_events", "raw_outcomes")


def raw_state(cfg: PlaceConfig) -> dict[str, tuple]:
    """Row count and a checksum of each raw table's content, to compare two warehouses.

    Delivery ids are left out (they follow file order), and `superseded_by`
    is reduced to whether the row is current, so two runs that loaded the
    same deliveries in another order compare equal. Read-only, straight from
    the file, so it also reads a warehouse the pipeline would refuse.
    """
    out = {}
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        for table in RAW_TABLES:
            out[table] = tuple(con.execute(
                "SELECT count(*), md5(coalesce(string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY CAST(t AS VARCHAR)), '')) "
                "FROM (SELECT * EXCLUDE (delivery_id, superseded_by), superseded_by IS NULL AS current "
                f"FROM {table}) t"
            ).fetchall()[0])
    finally:
        con.close()
    return out
