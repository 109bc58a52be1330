"""One more night of deliveries on top of a place `synthesize` made (the typical night of the bench)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stratify.config import PlaceConfig
from stratify.contract import Contract, load_contract
from stratify.synth.behaviour import EPOCH, OUTCOME_ODDS, RECORD_PREFIX
from stratify.synth.draws import draw_keys, stream
from stratify.synth.tables import contract_table, date_array, write_parquet

DAY_LAGS = {0: 0.55, 1: 0.25, 2: 0.08, 3: 0.04, 7: 0.04, 14: 0.03, 28: 0.01}  # event date = day - lag
DAY_CORRECTED_SHARE, DAY_RETRACTED_SHARE = 0.01, 0.002  # of the day's new rows, at least one each
DAY_MOVERS_SHARE, DAY_DEATHS_SHARE = 0.00005, 0.00003  # of registered people, at least one each


def _delivered(cfg: PlaceConfig, contract: Contract, source: str, before: date) -> pa.Table | None:
    """Every Parquet delivery of a source dated before `before`, from landing and archive, in delivery order."""
    found: dict[str, tuple[tuple[date, int], Path]] = {}
    for folder in (cfg.archive / source, cfg.landing / source):  # landing wins: not yet loaded
        for path in sorted(folder.glob(f"{source}_*.parquet")) if folder.is_dir() else ():
            name = contract.parse_file_name(path.name)
            if name is not None and name.source == source and name.delivery_date < before:
                found[path.name] = ((name.delivery_date, name.seq), path)
    if not found:
        return None
    order = sorted(found, key=lambda n: found[n][0])
    return pa.concat_tables([pq.read_table(found[n][1]) for n in order], promote_options="permissive")


def _day_events(rng: np.random.Generator, history: pa.Table, source: str, day: date) -> pa.Table:
    """A day of new rows, drawn from the last year's rows, plus a few corrections and retractions.

    The day's volume is the last year's rows per day, so the night costs what
    a typical night would; people active lately are the likeliest to appear.
    """
    d = (day - EPOCH).days
    ev_day = _day_numbers(history.column("event_date"))
    deleted = pc.fill_null(history.column("deleted"), False).to_numpy(zero_copy_only=False)
    recent = np.flatnonzero((ev_day > d - 366) & (ev_day < d) & ~deleted)
    pool = recent if len(recent) else np.arange(history.num_rows)
    n = max(1, int(round(len(recent) / 365)))
    new = history.take(pa.array(rng.choice(pool, n)))
    lag = np.array(list(DAY_LAGS))[draw_keys(rng, {str(k): v for k, v in DAY_LAGS.items()}, n)]
    new_day = d - lag
    old_day = _day_numbers(new.column("event_date"))
    columns = {"event_date": date_array(new_day),
               "record_id": pa.array([f"{RECORD_PREFIX.get(source, source[:3].upper())}-{day:%Y%m%d}-{i:06d}"
                                      for i in range(1, n + 1)]),
               "deleted": pa.array(np.zeros(n, bool))}
    if "end_date" in new.column_names:  # keep a spell's length; an end still to come is not known yet
        valid = new.column("end_date").is_valid().to_numpy(zero_copy_only=False)
        end = _day_numbers(new.column("end_date")) + (new_day - old_day)
        columns["end_date"] = date_array(end, valid & (end <= d))
    for name, arr in columns.items():
        new = new.set_column(new.column_names.index(name), name, arr.cast(new.schema.field(name).type))
    return pa.concat_tables([new, _day_fixes(rng, history, pool, n)], promote_options="permissive")


def _day_numbers(column: pa.ChunkedArray) -> np.ndarray:
    """A date column as days since 1970-01-01 (nulls as 0; callers keep their own validity)."""
    return pc.fill_null(column.cast(pa.date32()).cast(pa.int32()), 0).to_numpy(zero_copy_only=False).astype(np.int64)


def _day_fixes(rng: np.random.Generator, history: pa.Table, pool: np.ndarray, n: int) -> pa.Table:
    """Earlier rows re-sent: corrected (event date 1-3 days earlier) or retracted (`deleted`)."""
    k_fix = max(1, int(round(n * DAY_CORRECTED_SHARE)))
    k_del = max(1, int(round(n * DAY_RETRACTED_SHARE)))
    candidates = rng.choice(pool, min(2 * (k_fix + k_del), len(pool)), replace=False)
    rids = history.column("record_id").take(pa.array(candidates)).to_pylist()
    firsts = dict(zip(reversed(rids), reversed(range(len(rids)))))  # a record_id once per delivery
    picked = candidates[np.sort(np.fromiter(firsts.values(), dtype=np.int64))][: k_fix + k_del]
    k_fix = min(k_fix, len(picked))
    rows = history.take(pa.array(picked))
    ev = _day_numbers(rows.column("event_date"))
    fix = np.arange(len(picked)) < k_fix
    new_day = np.where(fix, ev - rng.integers(1, 4, len(picked)), ev)
    min_day = (load_contract().min_event_date - EPOCH).days
    new_day = np.maximum(new_day, min_day)
    rows = rows.set_column(rows.column_names.index("event_date"), "event_date",
                           date_array(new_day).cast(rows.schema.field("event_date").type))
    if "end_date" in rows.column_names:
        end = rows.column("end_date")
        keep = pc.and_kleene(end.is_valid(), pc.greater_equal(end, rows.column("event_date")))
        rows = rows.set_column(rows.column_names.index("end_date"), "end_date",
                               pc.if_else(keep, end, pa.nulls(len(end), end.type)))
    return rows.set_column(rows.column_names.index("deleted"), "deleted", pa.array(~fix))


def _day_register(rng: np.random.Generator, history: pa.Table, day: date) -> pa.Table:
    """The register's day: a few people move (another LSOA of the place) and a few die."""
    d = (day - EPOCH).days
    pids = history.column("person_id").to_numpy(zero_copy_only=False)[::-1]
    last_rows = history.num_rows - 1 - np.unique(pids, return_index=True)[1]  # latest row per person
    latest = history.take(pa.array(np.sort(last_rows)))
    living = np.flatnonzero(~latest.column("date_of_death").is_valid().to_numpy(zero_copy_only=False))
    n_move = max(1, int(round(len(living) * DAY_MOVERS_SHARE)))
    n_die = max(1, int(round(len(living) * DAY_DEATHS_SHARE)))
    picked = rng.choice(living, min(n_move + n_die, len(living)), replace=False)
    rows = latest.take(pa.array(picked))
    moves = np.arange(len(picked)) < n_move
    lsoas = pc.unique(latest.column("lsoa21")).to_numpy(zero_copy_only=False)
    new_lsoa = np.where(moves, lsoas[rng.integers(0, len(lsoas), len(picked))],
                        rows.column("lsoa21").to_numpy(zero_copy_only=False))
    death = pa.array(np.where(moves, -1, d - rng.integers(0, 3, len(picked))).astype("datetime64[D]"),
                     type=pa.date32(), mask=moves)
    rows = rows.set_column(rows.column_names.index("lsoa21"), "lsoa21", pa.array(new_lsoa, pa.string()))
    rows = rows.set_column(rows.column_names.index("date_of_death"), "date_of_death",
                           death.cast(rows.schema.field("date_of_death").type))
    return rows


def _day_outcomes(rng: np.random.Generator, history: pa.Table, day: date) -> pa.Table:
    """A day of team outcomes: the last year's records per day, about people already recorded."""
    d = (day - EPOCH).days
    ev_day = _day_numbers(history.column("event_date"))
    recent = np.flatnonzero((ev_day > d - 366) & (ev_day < d))
    pool = recent if len(recent) else np.arange(history.num_rows)
    n = max(1, int(round(len(recent) / 365)))
    rows = history.take(pa.array(rng.choice(pool, n)))
    outcome = pc.take(pa.array(list(OUTCOME_ODDS)), pa.array(draw_keys(rng, OUTCOME_ODDS, n)))
    rows = rows.set_column(rows.column_names.index("event_date"), "event_date",
                           date_array(np.full(n, d)).cast(rows.schema.field("event_date").type))
    rows = rows.set_column(rows.column_names.index("outcome"), "outcome", outcome)
    rid = pa.array([f"{RECORD_PREFIX['outcomes']}-{day:%Y%m%d}-{i:06d}" for i in range(1, n + 1)])
    return rows.set_column(rows.column_names.index("record_id"), "record_id", rid)


def synthesize_day(cfg: PlaceConfig, day: date, seed: int = 0) -> list[tuple[str, int]]:
    """Write one night's deliveries, `<source>_<day>.parquet`, on top of a place `synthesize` made.

    Why: a typical night is not a first load nor a night with nothing new, but
    one day of every agency's extract on top of years of history (new events,
    a few late ones, corrections and retractions; register moves and deaths;
    team outcomes). The day is drawn from what the place already delivered
    (landing and archive, read here; the pipeline reads neither from synth),
    so it follows the history's volumes and people; a source with no history
    sends nothing. Deterministic for
    (delivered history, day, seed); returns (path relative to landing, rows).
    """
    contract = load_contract()
    written: list[tuple[str, int]] = []
    for source in contract.sources.values():
        history = _delivered(cfg, contract, source.name, day)
        if history is None or history.num_rows == 0:
            if source.kind == "register":
                raise ValueError(f"synth: no register deliveries before {day} in {cfg.landing} or {cfg.archive}; "
                                 "run `stratify synth` for the history first")
            continue  # a source that never delivered (a small place's outcomes) sends nothing tonight either
        rng = stream(seed, f"day-{day:%Y%m%d}-{source.name}")
        if source.kind == "register":
            table = _day_register(rng, history, day)
        elif source.kind == "outcome":
            table = _day_outcomes(rng, history, day)
        else:
            table = _day_events(rng, history, source.name, day)
        table = contract_table(source, {c: table.column(c) for c in table.column_names}, table.num_rows)
        name = f"{source.name}_{day:%Y%m%d}.parquet"
        write_parquet(table, cfg.landing / source.name / name)
        written.append((f"{source.name}/{name}", table.num_rows))
    return written
