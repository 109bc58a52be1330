"""A synthetic place: contract-valid deliveries from simulated life courses.

Why it exists: the pipeline, its tests and its demo need data that looks like
what six agencies really send (volumes, corrections, late records, households,
deaths, moves) and that has a known truth, so that the crisis rules and the
wobbling model can be checked against it. Real extracts can never leave a
data-sharing agreement; this module makes a stand-in that does.

How: every person gets a latent life course. Most are stable and touch
services rarely (constant Poisson rates by age). A small cohort drifts towards
crisis: each agency's contacts start rising at its own stage of the
escalation (missed GP appointments, rent arrears and police incidents as a
victim first; eviction, A&E and adult social care next; homelessness, mental
health crises, overdoses and arrests last), stay high while in crisis, and
fall after support. Rates are evaluated on 30-day bins and drawn with numpy,
so the cost is per person-bin, never per event. One extreme person, "Brian",
has ten years of very frequent contact with everyone.

Everything an agency may send is read from the contract (`load_contract()`):
sources, column order and types, event types, codes, patterns and the SMD
domains. The tables below only say how often things happen. The truth
(latent risk, crisis dates, archetypes) goes to an answer key outside the
landing folder, which the pipeline never reads.

The work is split by job: `behaviour` (the rate tables), `draws` (seeded
streams, pseudonyms), `people`, `cohort`, `catalogue` (the contract's event
types), `events`, `brian`, `details` (optional columns), `tables` (contract
tables, Parquet), `geography`, `register`, `deliveries` (event files and their
`_2` corrections), `outcomes`, `answer_key`, `summary`; `day` writes one more
night on top of a place. This module puts them together.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

from stratify.config import PlaceConfig
from stratify.contract import load_contract
from stratify.synth.answer_key import answer_key_risk, answer_key_table
from stratify.synth.behaviour import BRIAN_YEARS, EPOCH, YEAR
from stratify.synth.brian import brian_events, brian_person_id
from stratify.synth.catalogue import Catalogue
from stratify.synth.cohort import cohort_deaths, make_cohort
from stratify.synth.day import synthesize_day
from stratify.synth.deliveries import write_event_deliveries
from stratify.synth.details import fill_details
from stratify.synth.draws import pseudonyms, stream
from stratify.synth.events import Events, background, cohort_events, household_children, other_children, pair_ends
from stratify.synth.geography import geography, write_neighbourhoods
from stratify.synth.outcomes import team_outcomes
from stratify.synth.people import make_people
from stratify.synth.register import make_register
from stratify.synth.summary import SynthSummary, summarize
from stratify.synth.tables import write_parquet

__all__ = ["SynthSummary", "answer_key_risk", "brian_person_id", "synthesize", "synthesize_day"]


def synthesize(cfg: PlaceConfig, people: int, as_of: date, years: int = 3, seed: int = 0,
               answer_key: Path | None = None) -> SynthSummary:
    """Write a synthetic place's deliveries, neighbourhoods and answer key; return what was made.

    Deterministic for (people, as_of, years, seed). Files are overwritten.
    """
    t0 = time.perf_counter()
    if people < 100:
        raise ValueError("synth: --people must be at least 100")
    if years < 1:
        raise ValueError("synth: --years must be at least 1")
    contract = load_contract()
    answer_key = Path(answer_key) if answer_key else cfg.landing.parent / "answer_key" / "answer_key.parquet"
    if answer_key.resolve().is_relative_to(cfg.landing.resolve()):
        raise ValueError("synth: the answer key must be written outside the landing folder")
    cat = Catalogue(contract, cfg.domains or contract.domains)
    a = (as_of - EPOCH).days
    min_day = (contract.min_event_date - EPOCH).days
    s = max(a - int(round(years * YEAR)) + 1, min_day)
    brian_lo = max(a - int(BRIAN_YEARS * YEAR) + 1, min_day)

    n_lsoa, n_teams, lsoa_codes, lsoa_team = geography(people)
    p = make_people(stream(seed, "people"), people, n_lsoa, a, s)
    c = make_cohort(stream(seed, "cohort"), p, cat.domain_names, a, s)
    cohort_deaths(stream(seed, "cohort-deaths"), p, c, a, s)
    first = np.maximum(p.birth, s)
    first[p.brian] = brian_lo
    last = np.minimum(p.death, a)

    ev = Events.concat([
        background(stream(seed, "background"), cat, p, first, last),
        cohort_events(stream(seed, "cohort-events"), cat, c, s, a),
        household_children(stream(seed, "children"), cat, p, c),
        other_children(stream(seed, "other-children"), cat, p, s, a),
        brian_events(stream(seed, "brian"), cat, p, a, brian_lo),
    ])
    ev = ev.take((ev.day >= first[ev.person]) & (ev.day <= last[ev.person]))
    ends, end_day = pair_ends(stream(seed, "pairs"), cat, ev, last)
    ev = Events.concat([ev, ends])
    end_day = np.concatenate([end_day, np.full(len(ends.day), -1, dtype=np.int64)])
    order = np.lexsort((ev.etype, ev.person, ev.day))
    ev, end_day = ev.take(order), end_day[order]
    substance_person = np.zeros(p.n, bool)
    if cat.substance_domain >= 0:
        substance_person[c.idx[c.domains[:, cat.substance_domain]]] = True
        substance_person[p.brian] = True
    det = fill_details(stream(seed, "details"), cat, ev, end_day, substance_person, last)

    pids = pa.array(pseudonyms(seed, "person", p.n - 1) + [brian_person_id(seed)])
    hh_list = pseudonyms(seed, "household", p.n_households)
    hh_ids = pa.array(hh_list)
    stamp = f"{as_of:%Y%m%d}"
    files: list[tuple[str, int]] = []

    def write(source: str, table: pa.Table, seq: int = 1) -> None:
        if table.num_rows == 0:  # an empty delivery breaks the contract: send none
            return
        name = f"{source}_{stamp}{'' if seq == 1 else f'_{seq}'}.parquet"
        write_parquet(table, cfg.landing / source / name)
        files.append((f"{source}/{name}", table.num_rows))

    reg = make_register(stream(seed, "register"), contract, p, pids, hh_list, seed, n_lsoa, lsoa_codes, a)
    write("register", reg.history)
    write("register", reg.second, 2)

    ev, det = write_event_deliveries(stream(seed, "split"), contract, cat, ev, det, pids, hh_ids, p, a, write)
    outcomes = team_outcomes(stream(seed, "outcomes"), contract, p, c, pids, lsoa_team, reg.final_lsoa, a, s)
    write("outcomes", outcomes)
    write_neighbourhoods(cfg.neighbourhoods, lsoa_codes, lsoa_team)

    truth = answer_key_table(p, c, pids, hh_ids, a)
    write_parquet(truth, answer_key)
    return summarize(cfg, cat, p, c, ev, det, truth, files, reg, outcomes.num_rows, as_of, years, seed,
                    n_lsoa, n_teams, lsoa_team, answer_key, time.perf_counter() - t0)
