"""Floors: the least work any pipeline must do (DuckDB reading every delivered file, or the raw history, once)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

    from stratify.config import PlaceConfig

RAW_TABLES = ("raw_register", "raw_events", "raw_outcomes")


def _duckdb(cfg: PlaceConfig) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the place's resource settings, so floors and stages are compared like for like."""
    import duckdb

    return duckdb.connect(config={"threads": cfg.duckdb.threads, "memory_limit": cfg.duckdb.memory_limit})


def read_files_floor(cfg: PlaceConfig, files: list[Path]) -> dict:
    """Read every file once with every column (each value hashed, so nothing can be skipped)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for f in files:
        groups.setdefault((f.parent.name, f.suffix.lower()), []).append(str(f))
    rows, con = 0, _duckdb(cfg)
    try:
        for (_, suffix), paths in sorted(groups.items()):
            reader = ("read_parquet($files, union_by_name = true)" if suffix == ".parquet"
                      else "read_csv($files, header = true, all_varchar = true, union_by_name = true)")
            rows += con.execute(f"SELECT count(*), bit_xor(hash(COLUMNS(*))) FROM {reader}",
                                {"files": paths}).fetchall()[0][0]
    finally:
        con.close()
    return {"files": len(files), "rows": rows, "bytes": sum(f.stat().st_size for f in files)}


def read_warehouse_floor(cfg: PlaceConfig) -> dict:
    """Read the warehouse's raw history once with every column, from a read-only connection."""
    from stratify.warehouse.database import connect, render_identifier

    rows = {}
    with connect(cfg, read_only=True) as con:
        for table in RAW_TABLES:
            name = render_identifier(table, frozenset(RAW_TABLES))
            rows[table] = con.execute(f"SELECT count(*), bit_xor(hash(COLUMNS(*))) FROM {name}").fetchall()[0][0]
    return {"rows": rows}


def landing_files(cfg: PlaceConfig) -> list[Path]:
    """Every delivery file now in the landing folder."""
    return sorted(p for p in cfg.landing.rglob("*") if p.is_file() and not p.name.startswith("."))
