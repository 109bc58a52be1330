"""What `synthesize` made: counts, prevalence and Brian, computed from the events as delivered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

from stratify.config import PlaceConfig
from stratify.synth.behaviour import EPOCH
from stratify.synth.brian import brian_person_id
from stratify.synth.catalogue import Catalogue
from stratify.synth.cohort import Cohort
from stratify.synth.details import Detail
from stratify.synth.events import Events
from stratify.synth.people import People
from stratify.synth.register import Register


@dataclass(frozen=True)
class SynthSummary:
    """What `synthesize` wrote, the prevalence it produced and how long it took."""

    place: str
    as_of: date
    years: int
    seed: int
    people: int
    adults: int
    households: int
    lsoas: int
    teams: int
    files: tuple[tuple[str, int], ...]  # (path relative to landing, rows)
    events_by_source: tuple[tuple[str, int], ...]  # effective event rows after corrections
    share_smd_1plus: float  # adults with >= 1 SMD domain in the last 12 months
    share_smd_2plus: float
    share_smd_3plus: float
    share_in_crisis_rules: float  # all people meeting a default crisis rule at as_of
    share_in_crisis_truth: float  # latent: entered crisis and not yet recovered
    share_wobbling_truth: float  # latent: not in crisis, entering within 6 months
    share_rising_risk: float  # latent risk >= 0.2 and not in crisis
    opted_out: int
    deaths: int
    movers: int
    outcomes: int
    brian_person_id: str
    brian_events_10y: int
    brian_events_90d: int
    brian_team_runner_up_90d: int  # the most events any other person of his team has in 90 days
    answer_key: str
    seconds: float

    def format(self) -> str:
        """A short human-readable report for the CLI."""
        pct = lambda x: f"{100 * x:.2f}%"  # noqa: E731
        lines = [
            f"synthetic place {self.place!r}: {self.people:,} people ({self.adults:,} adults) in "
            f"{self.households:,} households, {self.lsoas} LSOAs, {self.teams} teams; "
            f"as of {self.as_of}, {self.years} years of history, seed {self.seed}",
            "deliveries:",
            *(f"  {name}: {rows:,} rows" for name, rows in self.files),
            "event rows after corrections: " + ", ".join(f"{s} {n:,}" for s, n in self.events_by_source),
            f"adults with SMD domains in the last 12 months: >=1 {pct(self.share_smd_1plus)}, "
            f">=2 {pct(self.share_smd_2plus)}, >=3 {pct(self.share_smd_3plus)}",
            f"in crisis at as_of: {pct(self.share_in_crisis_rules)} by the default rules, "
            f"{pct(self.share_in_crisis_truth)} latent; wobbling (latent entry within 6 months) "
            f"{pct(self.share_wobbling_truth)}; rising risk {pct(self.share_rising_risk)}",
            f"opted out {self.opted_out:,}; deaths {self.deaths:,}; movers {self.movers:,}; "
            f"team outcomes {self.outcomes:,}",
            f"Brian {self.brian_person_id}: {self.brian_events_10y:,} events in 10 years, "
            f"{self.brian_events_90d} in the last 90 days (next in his team: {self.brian_team_runner_up_90d})",
            f"answer key (never read by the pipeline): {self.answer_key}",
            f"took {self.seconds:.1f} s",
        ]
        return "\n".join(lines)


def _smd_matrix(cat: Catalogue, ev: Events, det: Detail, n: int, since: int, until: int) -> np.ndarray:
    """(person, domain) evidence in (since, until], from the contract's domain rules."""
    in_window = (ev.day > since) & (ev.day <= until)
    out = np.zeros((n, len(cat.domain_names)), dtype=bool)
    diag3 = np.array([d[:3] if d else "" for d in det.diag], dtype=object) if any(
        r.icd10_from for r in cat.domains) else None
    for r in cat.domains:
        src_types = [cat.t(r.source, e) for e in r.event_types] if r.event_types else \
            [i for i, (s, _) in enumerate(cat.types) if s == r.source]
        m = in_window & np.isin(ev.etype, src_types)
        if r.roles:
            m &= np.isin(det.role, [cat.role(x) for x in r.roles])
        if r.icd10_from and diag3 is not None:
            m &= (diag3 >= r.icd10_from) & (diag3 <= (r.icd10_to or r.icd10_from)) & (diag3 != "")
        out[ev.person[m], cat.domain_names.index(r.domain)] = True
    return out


def _rule_crisis(cat: Catalogue, ev: Events, det: Detail, n: int, a: int) -> np.ndarray:
    """The default crisis rules at as_of, computed directly on the generated events (for the summary)."""
    smd = _smd_matrix(cat, ev, det, n, a - 365, a).sum(axis=1)
    r90 = (ev.day > a - 90) & (ev.day <= a)
    ae = np.bincount(ev.person[r90 & (ev.etype == cat.t("health", "ae_attendance"))], minlength=n)
    police = np.bincount(ev.person[r90 & (cat.source[ev.etype] == "police")], minlength=n)
    hom_d = cat.domain_names.index("homelessness") if "homelessness" in cat.domain_names else -1
    hom_types = [k for k, (d, _) in cat.evidence.items() if d == hom_d]
    hom = np.bincount(ev.person[r90 & np.isin(ev.etype, hom_types)], minlength=n)
    return (smd >= 3) | (ae >= 5) | (police >= 6) | (hom >= 3)


def summarize(cfg: PlaceConfig, cat: Catalogue, p: People, c: Cohort, ev: Events, det: Detail, truth: pa.Table,
             files: list[tuple[str, int]], reg: Register, outcomes: int, as_of: date, years: int, seed: int,
             n_lsoa: int, n_teams: int, lsoa_team: list[str], answer_key: Path, seconds: float) -> SynthSummary:
    """Shares computed from the events as delivered (after corrections), the way the pipeline sees them."""
    a = (as_of - EPOCH).days
    alive = p.death > a
    adults = alive & (p.age >= 18)
    smd = _smd_matrix(cat, ev, det, p.n, a - 365, a).sum(axis=1)
    share = lambda m: float((adults & m).sum() / max(adults.sum(), 1))  # noqa: E731
    crisis_rules = _rule_crisis(cat, ev, det, p.n, a) & alive
    in_crisis = truth.column("in_crisis_at_as_of").to_numpy(zero_copy_only=False)
    wobbling = truth.column("enters_crisis_within_6_months").to_numpy(zero_copy_only=False)
    risk = truth.column("latent_risk").to_numpy()
    recent = (ev.day > a - 90) & (ev.day <= a)
    per90 = np.bincount(ev.person[recent], minlength=p.n)
    team = np.array(lsoa_team)[reg.final_lsoa]
    brian_team = team == team[p.brian]
    brian_team[p.brian] = False
    by_source = [(s.name, int((cat.source[ev.etype] == s.name).sum())) for s in cat.contract.event_sources]
    return SynthSummary(
        place=cfg.place, as_of=as_of, years=years, seed=seed, people=p.n, adults=int(adults.sum()),
        households=p.n_households, lsoas=n_lsoa, teams=n_teams, files=tuple(files),
        events_by_source=tuple(by_source),
        share_smd_1plus=share(smd >= 1), share_smd_2plus=share(smd >= 2), share_smd_3plus=share(smd >= 3),
        share_in_crisis_rules=float(crisis_rules.sum() / max(alive.sum(), 1)),
        share_in_crisis_truth=float(in_crisis.sum() / max(alive.sum(), 1)),
        share_wobbling_truth=float((wobbling & ~in_crisis).sum() / max(alive.sum(), 1)),
        share_rising_risk=float(((risk >= 0.2) & ~in_crisis & alive).sum() / max(alive.sum(), 1)),
        opted_out=int(p.opted_out.sum()), deaths=int((~alive).sum()), movers=reg.movers, outcomes=outcomes,
        brian_person_id=brian_person_id(seed),
        brian_events_10y=int((ev.person == p.brian).sum()),
        brian_events_90d=int(per90[p.brian]),
        brian_team_runner_up_90d=int(per90[brian_team].max(initial=0)),
        answer_key=str(answer_key), seconds=round(seconds, 2),
    )
