"""The stepwise world: people, paths, events, reporting, deliveries and answer key, put together."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from stratify.config import PlaceConfig
from stratify.contract import load_contract
from stratify.synth.draws import pseudonyms, stream
from stratify.synth.geography import write_neighbourhoods
from stratify.synth.tables import write_parquet
from stratify.worlds.answer_key import answer_key_table
from stratify.worlds.events import Events, Types, child_events, noise_events, path_events
from stratify.worlds.mechanics import OUTCOME_CONTACTED_SHARE, YEAR_DAYS
from stratify.worlds.paths import make_paths
from stratify.worlds.population import make_population
from stratify.worlds.reporting import batch_day, file_day
from stratify.worlds.write import EPOCH, alive, outcomes_table, register_table, write_events, writer

WORLD = "stepwise"


@dataclass
class WorldSummary:
    world: str
    people: int
    teams: int
    as_of: str
    events: int
    delivered: int
    on_path: int
    third_domain_by_as_of: int
    files: list[tuple[str, int]]
    answer_key: str
    future: str | None
    seconds: float
    withheld_by_source: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [f"world {self.world}: {self.people:,} people, {self.teams} teams, as of {self.as_of}",
                f"events {self.events:,} by the as-of date, {self.delivered:,} delivered (the rest reported late "
                f"or in a batch still to come: {self.withheld_by_source})",
                f"on a path {self.on_path:,}; a third domain by the as-of date {self.third_domain_by_as_of:,}",
                f"{len(self.files)} delivery files; answer key {self.answer_key}"
                + (f"; the world beyond the as-of date in {self.future}" if self.future else ""),
                f"{self.seconds:.1f} s"]


def synthesize_stepwise(cfg: PlaceConfig, people: int, as_of: date, years: int = 3, seed: int = 0,
                        answer_key: Path | None = None, future_days: int = 0, future: Path | None = None
                        ) -> WorldSummary:
    """Write the stepwise world's deliveries as of `as_of`, its neighbourhoods and its answer key.

    With `future_days`, the world goes on that many days past `as_of` and
    every event up to then (reported or not) is written to `future`
    (default `<landing>/../future`), for benchmarks that score what happened
    next; the landing folder never holds anything past what was delivered
    by `as_of`. Deterministic for (people, as_of, years, seed, future_days).
    """
    t0 = time.perf_counter()
    if people < 100:
        raise ValueError("synth: --people must be at least 100")
    if years < 1:
        raise ValueError("synth: --years must be at least 1")
    contract = load_contract()
    answer_key = Path(answer_key) if answer_key else cfg.landing.parent / "answer_key" / "answer_key.parquet"
    future = Path(future) if future else cfg.landing.parent / "future"
    for path in (answer_key, future):
        if path.resolve().is_relative_to(cfg.landing.resolve()):
            raise ValueError(f"synth: {path} must be outside the landing folder")
    types = Types(contract)
    domains = tuple(dict.fromkeys(r.domain for r in (cfg.domains or contract.domains)))
    a = (as_of - EPOCH).days
    start = max(a - int(round(years * YEAR_DAYS)) + 1, (contract.min_event_date - EPOCH).days)
    end = a + max(future_days, 0)

    pop = make_population(stream(seed, "world2-people"), people, start, end)
    paths = make_paths(stream(seed, "world2-paths"), pop, domains, start, end)
    noise, propensity = noise_events(stream(seed, "world2-noise"), types, pop, start, end)
    ev = Events.concat([path_events(stream(seed, "world2-path-events"), types, paths, start, end),
                        child_events(stream(seed, "world2-children"), types, pop, paths, end), noise])
    ev = ev.take(alive(pop, ev) & (ev.day >= start) & (ev.day <= end))
    ev = ev.take(np.lexsort((ev.etype, ev.person, ev.day)))

    batch = np.zeros(len(ev.day), dtype=np.int64)
    file_on = np.zeros(len(ev.day), dtype=np.int64)
    rng = stream(seed, "world2-reporting")
    for src in contract.event_sources:
        rows = np.flatnonzero(types.source[ev.etype] == src.name)
        batch[rows] = batch_day(rng, src.name, ev.day[rows], a)
        file_on[rows] = file_day(src.name, batch[rows], a)
    delivered = (batch <= a) & (ev.day <= a)

    pids = pa.array(pseudonyms(seed, "world2-person", pop.n))
    hh_ids = pa.array(pseudonyms(seed, "world2-household", pop.n_households))
    files: list[tuple[str, int]] = []
    write = writer(cfg.landing, files)
    write("register", as_of, register_table(contract, pop, pids, hh_ids, a))
    future_write = None
    if future_days > 0:
        end_date = as_of + timedelta(days=future_days)
        fwrite = writer(future, [])
        fwrite("register", end_date, register_table(contract, pop, pids, hh_ids, end))
        future_write = (fwrite, end_date)
    write_events(write, contract, types, ev, batch, file_on, delivered, pids, hh_ids, pop, future_write)
    orng = stream(seed, "world2-outcomes")
    recent = (paths.third >= a - 365) & (paths.third <= a - 30) & (orng.random(len(paths.person)) < OUTCOME_CONTACTED_SHARE)
    person = paths.person[recent]
    person = person[pop.death[person] > a]
    write("outcomes", as_of, outcomes_table(contract, orng, pop, pids, person,
                                            np.minimum(paths.third[np.isin(paths.person, person) & recent] + 14, a)))
    write_neighbourhoods(cfg.neighbourhoods, pop.lsoa_codes, pop.lsoa_team)
    write_parquet(answer_key_table(stream(seed, "world2-key"), pop, paths, propensity, pids, hh_ids, a), answer_key)

    by_as_of = ev.day <= a
    withheld = {src.name: int((by_as_of & ~delivered & (types.source[ev.etype] == src.name)).sum())
                for src in contract.event_sources}
    return WorldSummary(
        world=WORLD, people=pop.n, teams=len(set(pop.lsoa_team)), as_of=as_of.isoformat(),
        events=int(by_as_of.sum()), delivered=int(delivered.sum()), on_path=len(paths.person),
        third_domain_by_as_of=int((paths.third <= a).sum()), files=files, answer_key=str(answer_key),
        future=str(future) if future_days > 0 else None, seconds=round(time.perf_counter() - t0, 2),
        withheld_by_source=withheld,
    )
