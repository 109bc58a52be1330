"""The wobbling benchmark's places: each world made past the as-of date, the product given only what was delivered by then.

Two places per world and size, beside each other in one folder:

- `place/`: the place stratify runs on (its landing holds what the agencies
  delivered by the as-of date, nothing later);
- `oracle/`: the same world six months further on, every event in it, loaded
  into a warehouse of its own only to score who met a crisis rule after the
  as-of date (never read by the product).

`stratify` is stratify's own generator (`stratify.synth`), made up to the end
date and cut back to the as-of date (rows dated later are dropped, deaths
after it blanked, people born after it left out). `stepwise` is the second
world (`stratify.worlds`), which writes both itself (its deliveries already
hold only what was reported by the as-of date).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stratify.config import PlaceConfig, load_config
from stratify.contract import load_contract

WORLDS = ("stratify", "stepwise")
FUTURE_DAYS = 183  # six months and a little: the horizon the benchmark scores


@dataclass
class BenchWorld:
    name: str
    people: int
    as_of: date
    end: date
    place: PlaceConfig
    oracle: PlaceConfig
    key_risk: Callable[[], pd.Series]  # person_id -> the answer key's latent escalation on the as-of date
    generate_s: float


def place_yaml(folder: Path, name: str, landing: str, neighbourhoods: str, capacity: int) -> PlaceConfig:
    """A place with default settings except a capacity large enough that every team lists 25 wobbling people."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "place.yaml").write_text(
        f"place: {name}\nlanding: {landing}\nwarehouse: {name}.duckdb\nout: out\n"
        f"neighbourhoods: {neighbourhoods}\ncapacity:\n  default: {capacity}\n", encoding="utf-8")
    return load_config(folder / "place.yaml")


def _cut(table: pa.Table, source: str, as_of: date) -> pa.Table:
    """A delivery as it stood on `as_of`: rows dated later dropped, later deaths blanked, later births left out."""
    if source == "register":
        born = pc.less_equal(table["birth_year_month"], f"{as_of:%Y-%m}")
        table = table.filter(born)
        death = table["date_of_death"]
        later = pc.fill_null(pc.greater(death, pa.scalar(as_of, pa.date32())), False)
        return table.set_column(table.column_names.index("date_of_death"), "date_of_death",
                                pc.if_else(later, pa.scalar(None, pa.date32()), death))
    return table.filter(pc.less_equal(table["event_date"], pa.scalar(as_of, pa.date32())))


def cut_deliveries(source_landing: Path, landing: Path, as_of: date) -> int:
    """Every delivery in `source_landing` cut back to `as_of`, renamed to that date; returns the files written."""
    contract = load_contract()
    written = 0
    for path in sorted(source_landing.glob("*/*.parquet")):
        name = contract.parse_file_name(path.name)
        if name is None:
            continue
        table = _cut(pq.read_table(path), name.source, as_of)
        if table.num_rows == 0:
            continue
        seq = "" if name.seq in (None, 1) else f"_{name.seq}"
        out = landing / name.source / f"{name.source}_{as_of:%Y%m%d}{seq}.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, out, compression="zstd")
        written += 1
    return written


def world_of(name: str, folder: Path, people: int, as_of: date, capacity: int = 2000) -> BenchWorld:
    """World `name`'s two places in `folder` and how to read its answer key (nothing is generated here)."""
    if name not in WORLDS:
        raise ValueError(f"bench wobbling: unknown world {name!r}; one of {', '.join(WORLDS)}")
    place = place_yaml(folder / "place", "place", "landing", "neighbourhoods.csv", capacity)
    oracle = place_yaml(folder / "oracle", "oracle", "landing", "../place/neighbourhoods.csv", capacity)
    key_path = folder / "answer_key.parquet"

    def key_risk() -> pd.Series:
        if name == "stratify":
            from stratify.synth.answer_key import answer_key_risk

            key = pd.read_parquet(key_path)
            return pd.Series(answer_key_risk(key, as_of), index=key["person_id"].to_numpy())
        key = pd.read_parquet(key_path, columns=["person_id", "latent_escalation"])
        return pd.Series(key["latent_escalation"].to_numpy(dtype=float), index=key["person_id"].to_numpy())

    return BenchWorld(name, people, as_of, as_of + timedelta(days=FUTURE_DAYS), place, oracle, key_risk, 0.0)


def make_world(name: str, folder: Path, people: int, as_of: date, seed: int, capacity: int = 2000) -> BenchWorld:
    """Generate world `name` with `people` people into `folder` (place/ and oracle/), as of `as_of`."""
    world = world_of(name, folder, people, as_of, capacity)
    key_path = folder / "answer_key.parquet"
    t0 = time.perf_counter()
    if name == "stratify":
        from stratify.synth.generate import synthesize

        synthesize(world.oracle, people=people, as_of=world.end, years=4, seed=seed, answer_key=key_path)
        cut_deliveries(world.oracle.landing, world.place.landing, as_of)
    else:
        from stratify.worlds.generate import synthesize_stepwise

        synthesize_stepwise(world.place, people=people, as_of=as_of, years=3, seed=seed, answer_key=key_path,
                            future_days=FUTURE_DAYS, future=world.oracle.landing)
    world.generate_s = round(time.perf_counter() - t0, 1)
    return world


def teams_of(cfg: PlaceConfig) -> np.ndarray:
    return pd.read_csv(cfg.neighbourhoods)["team"].unique()
