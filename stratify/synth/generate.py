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
"""

from __future__ import annotations

import csv
import hashlib
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stratify.config import PlaceConfig
from stratify.contract import Contract, DomainRule, Source, load_contract

if TYPE_CHECKING:  # pandas only for reading an answer key back
    import pandas as pd

EPOCH = date(1970, 1, 1)
YEAR = 365.25
BIN_DAYS = 30
BRIAN_YEARS = 10
RESIDENTS_PER_LSOA = 1_500
PEOPLE_PER_TEAM = 40_000
MIN_TEAMS = 3

# Age bands used by the base rates: child, 18-39, 40-64, 65+.
AGE_BANDS = (18, 40, 65)


@dataclass(frozen=True)
class Rate:
    """How often one event type happens, in events per person-year.

    `base` applies to everyone (times an age multiplier and a personal
    vulnerability); `crisis` is added for the risk cohort at full crisis
    intensity; `stage` (0..1) is how far into a person's escalation this
    agency's contacts start rising, so that early signals precede crises;
    `affinity` names the SMD domain this type goes with when it is not itself
    domain evidence (people without that domain get a quarter of the rate).
    """

    base: float
    crisis: float = 0.0
    stage: float = 0.5
    affinity: str | None = None


# Behaviour, not contract: how often each contract event type happens.
# Types of the contract missing here get DEFAULT_RATE (so a new contract code
# still appears); keys missing from the contract are a maintainer's error
# (checked by `_check_behaviour`).
RATES: dict[tuple[str, str], Rate] = {
    ("health", "ae_attendance"): Rate(0.30, 6.0, 0.35),
    ("health", "emergency_admission"): Rate(0.07, 1.5, 0.6),
    ("health", "elective_admission"): Rate(0.10),
    ("health", "mental_health_referral"): Rate(0.015, 2.5, 0.0, "mental_ill_health"),
    ("health", "mental_health_crisis"): Rate(0.0004, 2.5, 0.7),
    ("health", "mental_health_detention"): Rate(0.00005, 0.4, 0.85),
    ("health", "self_harm"): Rate(0.0004, 1.5, 0.6),
    ("health", "overdose"): Rate(0.00015, 1.5, 0.7),
    ("health", "substance_treatment_start"): Rate(0.0003, 1.0, 0.6),
    ("health", "substance_treatment_exit"): Rate(0.0),  # paired with starts
    ("health", "gp_missed_appointment"): Rate(0.40, 6.0, 0.0),
    ("social_care", "adult_contact"): Rate(0.02, 3.0, 0.4),
    ("social_care", "adult_assessment"): Rate(0.01, 1.0, 0.6),
    ("social_care", "adult_safeguarding_concern"): Rate(0.0004, 2.0, 0.6),
    ("social_care", "adult_s42_enquiry"): Rate(0.0001, 0.6, 0.8),
    ("social_care", "adult_care_package_start"): Rate(0.004, 0.3, 0.9),
    ("social_care", "child_referral"): Rate(0.0),  # from households
    ("social_care", "child_in_need_start"): Rate(0.0),
    ("social_care", "child_protection_start"): Rate(0.0),
    ("social_care", "child_protection_end"): Rate(0.0),
    ("social_care", "looked_after_start"): Rate(0.0),
    ("social_care", "looked_after_end"): Rate(0.0),
    ("social_care", "care_leaver"): Rate(0.0),
    ("housing", "rent_arrears"): Rate(0.05, 4.0, 0.0, "homelessness"),
    ("housing", "eviction_notice"): Rate(0.002, 1.5, 0.4, "homelessness"),
    ("housing", "prevention_duty"): Rate(0.0015, 1.0, 0.5, "homelessness"),
    ("housing", "homeless_approach"): Rate(0.0005, 2.0, 0.65),
    ("housing", "relief_duty"): Rate(0.0002, 1.0, 0.75),
    ("housing", "main_duty"): Rate(0.0001, 0.5, 0.85),
    ("housing", "temporary_accommodation_start"): Rate(0.00015, 1.0, 0.8),
    ("housing", "temporary_accommodation_end"): Rate(0.0),  # paired with starts
    ("housing", "rough_sleeping"): Rate(0.00005, 2.0, 0.85),
    ("housing", "asb_case"): Rate(0.004, 1.0, 0.3, "offending"),
    ("police", "incident"): Rate(0.08, 4.0, 0.1),
    ("police", "domestic_abuse_incident"): Rate(0.001, 2.0, 0.3),
    ("police", "missing_person"): Rate(0.0008, 0.6, 0.6, "mental_ill_health"),
    ("police", "mental_health_incident"): Rate(0.0003, 2.0, 0.6),
    ("police", "arrest"): Rate(0.001, 2.5, 0.6),
    ("police", "custody"): Rate(0.0005, 1.5, 0.7),
    ("police", "asb_report"): Rate(0.02, 1.0, 0.2, "offending"),
    ("police", "violent_crime"): Rate(0.0015, 1.5, 0.4),
    ("police", "other_crime"): Rate(0.02, 1.0, 0.3),
}
DEFAULT_RATE = Rate(0.001, 0.2, 0.5)

# Age multipliers (child, 18-39, 40-64, 65+) per agency, and a few exceptions.
AGE_MULT: dict[str, tuple[float, float, float, float]] = {
    "health": (0.7, 0.8, 1.0, 1.8),
    "social_care": (0.0, 0.5, 0.8, 4.0),
    "housing": (0.0, 1.5, 1.0, 0.3),
    "police": (0.15, 1.6, 0.8, 0.2),
}
AGE_MULT_TYPE: dict[tuple[str, str], tuple[float, float, float, float]] = {
    ("health", "elective_admission"): (0.3, 0.5, 1.0, 3.0),
    ("health", "emergency_admission"): (0.6, 0.6, 1.0, 3.0),
    ("social_care", "adult_care_package_start"): (0.0, 0.1, 0.3, 8.0),
}

# A start that is often followed by an end: (end type, P(end), min days, max days).
PAIRS: dict[tuple[str, str], tuple[str, float, int, int]] = {
    ("health", "substance_treatment_start"): ("substance_treatment_exit", 0.8, 60, 300),
    ("housing", "temporary_accommodation_start"): ("temporary_accommodation_end", 0.85, 20, 300),
    ("social_care", "child_protection_start"): ("child_protection_end", 0.8, 120, 540),
    ("social_care", "looked_after_start"): ("looked_after_end", 0.4, 90, 900),
}
ADMISSION_MEAN_LOS = {"emergency_admission": 5.0, "elective_admission": 1.5}
# Spells whose end is recorded on the row itself: (min, max) days.
SPELLS: dict[tuple[str, str], tuple[int, int]] = {
    ("health", "mental_health_detention"): (28, 28),
    ("police", "custody"): (0, 1),
    ("social_care", "adult_s42_enquiry"): (14, 90),
}

# Police roles by event type (background odds).
POLICE_ROLES: dict[str, dict[str, float]] = {
    "incident": {"victim": 0.45, "reporting_person": 0.3, "witness": 0.15, "subject": 0.1},
    "domestic_abuse_incident": {"victim": 0.7, "suspect": 0.3},
    "missing_person": {"subject": 1.0},
    "mental_health_incident": {"subject": 1.0},
    "arrest": {"suspect": 0.6, "subject": 0.4},
    "custody": {"subject": 1.0},
    "asb_report": {"reporting_person": 0.5, "suspect": 0.4, "witness": 0.1},
    "violent_crime": {"victim": 0.5, "suspect": 0.35, "witness": 0.15},
    "other_crime": {"victim": 0.6, "suspect": 0.25, "witness": 0.15},
}

# ICD-10 codes attached to health events (None: not coded). Substance codes
# come from the contract's ICD-10 domain ranges instead.
DIAGNOSES: dict[str, tuple[str, ...]] = {
    "ae_attendance": ("R07.4", "S52.5", "S06.0", "J18.9", "R10.4", "T14.1", "S61.0"),
    "emergency_admission": ("J18.9", "I21.9", "N39.0", "J44.1", "K35.8", "I63.9"),
    "elective_admission": ("H25.9", "M17.1", "K80.2", "C50.9", "K40.9"),
    "mental_health_referral": ("F32.1", "F41.1", "F43.1", "F33.2"),
    "mental_health_crisis": ("F32.2", "F20.0", "F60.3", "F43.0"),
    "mental_health_detention": ("F20.0", "F31.2", "F25.0"),
    "self_harm": ("X78", "T39.1", "X84"),
    "overdose": ("T40.1", "T40.2", "T42.4", "T51.0"),
}
CODED_SHARE = 0.7
SUBSTANCE_CODED_SHARE = 0.45

# The risk cohort, as shares of adults aged 18-69.
COHORT_SHARES = {"crisis": 0.0015, "recovering": 0.002, "drifting": 0.024, "near_miss": 0.03}
DOMAIN_WEIGHTS = {"homelessness": 0.7, "mental_ill_health": 0.85, "substance_misuse": 0.6,
                  "violence_and_abuse": 0.5, "offending": 0.55}
DOMAIN_COUNT_ODDS = {2: 0.45, 3: 0.35, 4: 0.14, 5: 0.06}
NEAR_MISS_DOMAIN_ODDS = {0: 0.3, 1: 0.45, 2: 0.25}
HIGH_INTENSITY_MULT = 4.0

# Brian: ten years of events (>= 3,355 in all, >= 1,000 health, >= 1,000 police).
BRIAN: dict[tuple[str, str], int] = {
    ("health", "ae_attendance"): 650, ("health", "emergency_admission"): 120,
    ("health", "mental_health_referral"): 30, ("health", "mental_health_crisis"): 100,
    ("health", "mental_health_detention"): 8, ("health", "self_harm"): 60,
    ("health", "overdose"): 50, ("health", "substance_treatment_start"): 20,
    ("health", "gp_missed_appointment"): 100,
    ("police", "incident"): 300, ("police", "arrest"): 200, ("police", "custody"): 180,
    ("police", "mental_health_incident"): 150, ("police", "violent_crime"): 80,
    ("police", "other_crime"): 60, ("police", "asb_report"): 50,
    ("police", "missing_person"): 20, ("police", "domestic_abuse_incident"): 15,
    ("housing", "homeless_approach"): 80, ("housing", "rough_sleeping"): 330,
    ("housing", "temporary_accommodation_start"): 60, ("housing", "relief_duty"): 40,
    ("housing", "prevention_duty"): 20, ("housing", "main_duty"): 10,
    ("housing", "eviction_notice"): 15, ("housing", "rent_arrears"): 20, ("housing", "asb_case"): 30,
    ("social_care", "adult_contact"): 300, ("social_care", "adult_assessment"): 80,
    ("social_care", "adult_safeguarding_concern"): 100, ("social_care", "adult_s42_enquiry"): 40,
    ("social_care", "adult_care_package_start"): 10,
}

OUTCOME_ODDS = {"contacted": 0.35, "engaged": 0.25, "declined": 0.12, "not_appropriate": 0.08,
                "already_supported": 0.12, "moved_away": 0.05, "wrong_person": 0.03}
SEX_ODDS = {"F": 0.505, "M": 0.49, "X": 0.002, "U": 0.003}
ETHNIC_ODDS = {"W": 0.80, "A": 0.09, "B": 0.04, "M": 0.03, "O": 0.02, "Z": 0.02}
OPTED_OUT_SHARE = 0.015
MOVING_HOUSEHOLD_SHARE = 0.01
LATE_SHARE, CORRECTED_SHARE, RETRACTED_SHARE = 0.12, 0.004, 0.0006
RECORD_PREFIX = {"register": "REG", "health": "HLT", "social_care": "SCR",
                 "housing": "HSG", "police": "POL", "outcomes": "NTO"}


# --------------------------------------------------------------------------- summary


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


# --------------------------------------------------------------------------- identifiers


def _pseudonyms(seed: int, kind: str, n: int, start: int = 0) -> list[str]:
    """64-hex keyed hashes, standing in for the trusted third party's HMAC-SHA-256.

    Keyed by the seed so that two synthetic places never share pseudonyms.
    """
    key = hashlib.sha256(f"stratify-synth|{seed}".encode()).digest()
    return [
        hashlib.blake2b(f"{kind}|{i}".encode(), key=key, digest_size=32).hexdigest()
        for i in range(start, start + n)
    ]


def brian_person_id(seed: int) -> str:
    """Brian's pseudonym for a seed: the same whatever the number of people."""
    return _pseudonyms(seed, "brian", 1)[0]


def _record_ids(prefix: str, start: int, n: int) -> pa.Array:
    """`PREFIX-000000123`: letters keep record ids from ever being bare 10-digit numbers."""
    nums = pc.cast(pa.array(np.arange(start, start + n, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(f"{prefix}-", pc.utf8_lpad(nums, 9, "0"), "")


def _rng(seed: int, part: str) -> np.random.Generator:
    """An independent stream per part, so changing one part leaves the others' draws alone."""
    return np.random.default_rng([seed, int.from_bytes(hashlib.sha256(part.encode()).digest()[:4], "big")])


def _choice(rng: np.random.Generator, odds: dict[str, float], n: int) -> np.ndarray:
    """n draws of the keys of `odds` (as indices into list(odds))."""
    p = np.array(list(odds.values()), dtype=float)
    return rng.choice(len(p), size=n, p=p / p.sum())


# --------------------------------------------------------------------------- people


@dataclass
class People:
    """One row per person (index = position); days are days since 1970-01-01."""

    n: int
    household: np.ndarray  # int32 household index
    is_child: np.ndarray
    birth: np.ndarray  # birth day
    age: np.ndarray  # age in years at as_of
    lsoa: np.ndarray  # int32 LSOA index
    sex: np.ndarray
    ethnic: np.ndarray
    vuln: np.ndarray  # multiplier on base rates
    death: np.ndarray  # day of death or INT32_MAX
    opted_out: np.ndarray
    n_households: int
    brian: int  # index of Brian (the last person)


# Household kinds: (odds, adults, max children, adult age range)
HOUSEHOLD_KINDS = (
    (0.30, 1, 0, (18, 90)),
    (0.27, 2, 0, (20, 90)),
    (0.18, 2, 3, (22, 55)),
    (0.08, 1, 3, (18, 50)),
    (0.07, 3, 0, (18, 70)),
    (0.10, 1, 0, (65, 98)),
)


def _households(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lay n people out household by household: (household index, is_child, adult age range kind)."""
    kinds = rng.choice(len(HOUSEHOLD_KINDS), size=n, p=[k[0] for k in HOUSEHOLD_KINDS])
    adults = np.array([k[1] for k in HOUSEHOLD_KINDS])[kinds]
    max_kids = np.array([k[2] for k in HOUSEHOLD_KINDS])[kinds]
    kids = np.where(max_kids > 0, rng.integers(1, np.maximum(max_kids, 1) + 1), 0)
    size = adults + kids
    h = int(np.searchsorted(np.cumsum(size), n)) + 1
    household = np.repeat(np.arange(h, dtype=np.int32), size[:h])[:n]
    first = np.concatenate([[0], np.cumsum(size[:h])[:-1]])
    pos = np.arange(n) - first[household]
    return household, pos >= adults[household], kinds[household]


def _make_people(rng: np.random.Generator, n: int, n_lsoa: int, a: int, hist_start: int) -> People:
    """Households, ages, sex, ethnicity, places, vulnerability, deaths and opt-outs."""
    m = n - 1  # the last person is Brian
    household, is_child, kind = _households(rng, m)
    lo = np.array([k[3][0] for k in HOUSEHOLD_KINDS])[kind]
    hi = np.array([k[3][1] for k in HOUSEHOLD_KINDS])[kind]
    age = np.where(is_child, rng.uniform(0, 18, m), lo + (hi - lo) * rng.beta(1.3, 1.8, m))
    n_h = int(household[-1]) + 1
    # LSOAs differ in deprivation: it raises base rates and the chance of joining the risk cohort.
    deprivation = rng.lognormal(0.0, 0.5, n_lsoa)
    hh_lsoa = rng.integers(0, n_lsoa, n_h).astype(np.int32)
    lsoa = hh_lsoa[household]
    vuln = rng.gamma(2.0, 0.5, m) * np.sqrt(deprivation[lsoa])
    # Brian: a single man in his forties with a household of his own.
    household = np.append(household, n_h).astype(np.int32)
    is_child = np.append(is_child, False)
    age = np.append(age, 44.3)
    lsoa = np.append(lsoa, rng.integers(0, n_lsoa)).astype(np.int32)
    vuln = np.append(vuln, 3.0)
    birth = (a - age * YEAR).astype(np.int64)
    sex = _choice(rng, SEX_ODDS, n)
    sex[-1] = list(SEX_ODDS).index("M")
    ethnic = _choice(rng, ETHNIC_ODDS, n)
    opted = rng.random(n) < OPTED_OUT_SHARE
    opted[-1] = False
    death = _deaths(rng, age, a, hist_start)
    death[-1] = np.iinfo(np.int32).max
    return People(n, household, is_child, birth, age, lsoa, sex, ethnic, vuln, death, opted, n_h + 1, n - 1)


def _deaths(rng: np.random.Generator, age: np.ndarray, a: int, hist_start: int) -> np.ndarray:
    """Gompertz mortality over the history window; day of death or INT32_MAX."""
    years = (a - hist_start) / YEAR
    q = np.clip(np.exp(-10.2 + 0.092 * age), 0, 0.5)
    dies = rng.random(len(age)) < 1 - (1 - q) ** years
    day = rng.integers(hist_start, a + 1, len(age))
    return np.where(dies, day, np.iinfo(np.int32).max).astype(np.int64)


def _age_band(age: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.array(AGE_BANDS), age, side="right")


# --------------------------------------------------------------------------- risk cohort


@dataclass
class Cohort:
    """The people whose contacts change over time (latent trajectories)."""

    idx: np.ndarray  # person indices
    archetype: np.ndarray  # str
    escalation: np.ndarray  # day rises begin
    peak: np.ndarray  # day full intensity (the crisis date when level == 1)
    recovery: np.ndarray  # day support starts to work (INT32_MAX: never)
    level: np.ndarray  # 1 = crisis, < 1 = near miss
    domains: np.ndarray  # bool (n, n_domains)
    high_intensity: np.ndarray  # int: -1 none, else index into HIGH_INTENSITY_KINDS


HIGH_INTENSITY_KINDS = ("ae", "police", "homelessness")
NEVER = np.iinfo(np.int32).max


def _make_cohort(rng: np.random.Generator, p: People, domain_names: list[str], a: int, s: int) -> Cohort:
    """Pick the risk cohort (weighted to deprived, single adults) and draw their trajectories."""
    eligible = np.flatnonzero(~p.is_child & (p.age < 70) & (p.death > a))
    eligible = eligible[eligible != p.brian]
    single = np.bincount(p.household, minlength=p.n_households)[p.household[eligible]] == 1
    w = p.vuln[eligible] * (1 + 1.5 * single) * np.where(p.age[eligible] < 50, 1.5, 0.7)
    sizes = {k: int(round(v * len(eligible))) for k, v in COHORT_SHARES.items()}
    chosen = rng.choice(eligible, size=min(sum(sizes.values()), len(eligible)), replace=False, p=w / w.sum())
    arche = np.repeat(np.array(list(sizes)), list(sizes.values()))[: len(chosen)]
    n = len(chosen)
    span = a - s
    peak = np.empty(n)
    esc = np.empty(n)
    rec = np.full(n, float(NEVER))
    level = np.ones(n)
    u = rng.random(n)
    dur = rng.uniform(180, 540, n)
    for name, mask in ((k, arche == k) for k in COHORT_SHARES):
        k = int(mask.sum())
        if name == "crisis":  # in crisis before the history starts and still
            peak[mask] = s - rng.uniform(0, 400, k)
        elif name == "recovering":  # crisis early on, support working in the history
            peak[mask] = s - 200 + (span * 0.45 + 200) * u[mask]
            rec[mask] = peak[mask] + rng.uniform(90, 300, k)
        elif name == "drifting":  # entries spread over the whole history and the next year
            peak[mask] = s + 90 + (span + 365 - 90) * u[mask]
            supported = rng.random(k) < 0.8
            rec[mask] = np.where(supported, peak[mask] + rng.uniform(60, 360, k), NEVER)
        else:  # near misses: rising signals that stop short of crisis
            peak[mask] = s + (span + 365) * u[mask]
            level[mask] = rng.uniform(0.25, 0.5, k)
            rec[mask] = peak[mask] + rng.uniform(60, 300, k)
    esc[:] = peak - dur
    domains, hi = _cohort_domains(rng, arche, domain_names)
    return Cohort(chosen, arche, esc.astype(np.int64), peak.astype(np.int64),
                  np.minimum(rec, NEVER).astype(np.int64), level, domains, hi)


def _cohort_domains(rng: np.random.Generator, arche: np.ndarray, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Which SMD domains each cohort member's crisis involves (Gumbel top-k by weights)."""
    n, d = len(arche), len(names)
    w = np.array([DOMAIN_WEIGHTS.get(x, 0.5) for x in names])
    counts = np.array(list(DOMAIN_COUNT_ODDS))[_choice(rng, {str(k): v for k, v in DOMAIN_COUNT_ODDS.items()}, n)]
    near = np.array(list(NEAR_MISS_DOMAIN_ODDS))[_choice(rng, {str(k): v for k, v in NEAR_MISS_DOMAIN_ODDS.items()}, n)]
    counts = np.minimum(np.where(arche == "near_miss", near, counts), d)
    keys = np.log(w)[None, :] + rng.gumbel(size=(n, d))
    order = np.argsort(-keys, axis=1)
    domains = np.zeros((n, d), dtype=bool)
    rank = np.argsort(order, axis=1)
    domains[:] = rank < counts[:, None]
    hi = np.where((counts <= 2) & (arche != "near_miss"), rng.integers(0, len(HIGH_INTENSITY_KINDS), n), -1)
    extra = (hi < 0) & (arche != "near_miss") & (rng.random(n) < 0.12)
    hi = np.where(extra, rng.integers(0, len(HIGH_INTENSITY_KINDS), n), hi)
    return domains, hi


def _intensity(c: Cohort, stage: float, t: np.ndarray) -> np.ndarray:
    """Share (0..1) of the crisis rate a type reaches at days t, per cohort member.

    The type's rise starts at its stage of the escalation and reaches the
    person's level at the peak; after support it decays (90-day scale) to a
    small residue.
    """
    start = c.escalation + stage * (c.peak - c.escalation)
    x = np.clip((t[None, :] - start[:, None]) / np.maximum(c.peak - start, 1)[:, None], 0, 1) ** 1.5
    after = np.clip(t[None, :] - c.recovery[:, None].astype(float), 0, None)
    decay = 0.08 + 0.92 * np.exp(-after / 90.0)
    return c.level[:, None] * x * decay


def _risk_on(day: int, level: np.ndarray, escalation: np.ndarray, peak: np.ndarray, recovery: np.ndarray) -> np.ndarray:
    """Latent risk on a day: progress towards the peak, times the decay after support starts."""
    progress = np.clip((day - escalation) / np.maximum(peak - escalation, 1), 0, 1)
    after = np.clip(day - recovery.astype(float), 0, None)
    return level * progress * (0.08 + 0.92 * np.exp(-after / 90.0))


def latent_risk(c: Cohort, a: int) -> np.ndarray:
    """The answer key's latent risk at as_of: progress towards crisis, times decay after support."""
    return _risk_on(a, c.level, c.escalation, c.peak, c.recovery)


def answer_key_risk(key: pd.DataFrame, when: date) -> np.ndarray:
    """Each answer-key person's latent risk on `when`, from their trajectory (same formula as `latent_risk`).

    The key's `latent_risk` column is the risk on the place's as-of date. A
    model tested on an earlier snapshot can know at best the risk on that
    snapshot's date: ranking it by the as-of risk would use what happened
    after the snapshot (who went on to reach crisis), so it is no ceiling.
    Keys written before the trajectory columns existed raise ValueError.
    """
    missing = {"base_risk", "escalation_date", "peak_date", "recovery_date", "level"} - set(key.columns)
    if missing:
        raise ValueError(f"answer key has no trajectory column(s) {sorted(missing)}: regenerate it with `stratify synth`")
    import pandas as pd

    def days(column: str) -> np.ndarray:
        d = pd.to_datetime(key[column])
        return ((d - pd.Timestamp(EPOCH)).dt.days).fillna(-1).to_numpy(dtype=np.int64)

    esc, peak, rec = days("escalation_date"), days("peak_date"), days("recovery_date")
    base = key["base_risk"].to_numpy(dtype=float)
    latent = _risk_on((when - EPOCH).days, key["level"].to_numpy(dtype=float), esc, peak, np.where(rec < 0, NEVER, rec))
    return np.where(peak >= 0, np.maximum(base, latent), base)


# --------------------------------------------------------------------------- events


@dataclass
class Events:
    """Events as parallel arrays; columns are built from them at the end."""

    person: np.ndarray
    etype: np.ndarray  # index into the global type list
    day: np.ndarray
    role: np.ndarray  # index into the role vocabulary, -1 = default for the type

    @staticmethod
    def concat(parts: list["Events"]) -> "Events":
        return Events(*(np.concatenate([getattr(x, f) for x in parts]) for f in ("person", "etype", "day", "role")))

    def take(self, mask: np.ndarray) -> "Events":
        return Events(self.person[mask], self.etype[mask], self.day[mask], self.role[mask])


def _events(person: np.ndarray, etype: int | np.ndarray, day: np.ndarray, role: int | np.ndarray = -1) -> Events:
    n = len(person)
    return Events(person.astype(np.int32), np.broadcast_to(np.asarray(etype, dtype=np.int16), (n,)).copy(),
                  day.astype(np.int64), np.broadcast_to(np.asarray(role, dtype=np.int8), (n,)).copy())


class Catalogue:
    """The contract's event types (one global index) with their behaviour."""

    def __init__(self, contract: Contract, domains: tuple[DomainRule, ...]):
        _check_behaviour(contract)
        self.contract = contract
        self.types: list[tuple[str, str]] = [(s.name, e) for s in contract.event_sources for e in s.event_types]
        self.index = {t: i for i, t in enumerate(self.types)}
        self.source = np.array([s for s, _ in self.types])
        self.rate = [RATES.get(t, DEFAULT_RATE) for t in self.types]
        self.domains = domains
        self.domain_names = list(dict.fromkeys(r.domain for r in domains))
        self.evidence: dict[int, tuple[int, tuple[str, ...]]] = {}  # type -> (domain, roles)
        for r in domains:
            for e in r.event_types:
                self.evidence[self.index[(r.source, e)]] = (self.domain_names.index(r.domain), r.roles)
        roles: list[str] = []
        for s in contract.event_sources:
            if "role" in s.column_names:
                roles += [c for c in s.column("role").codes or () if c not in roles]
        self.roles = roles
        self.substance_codes, self.substance_domain = self._icd_domain_codes()

    def _icd_domain_codes(self) -> tuple[tuple[str, ...], int]:
        """Diagnosis codes that evidence a domain through an ICD-10 range (e.g. F10-F19)."""
        for r in self.domains:
            if r.icd10_from and r.icd10_to:
                letter, lo, hi = r.icd10_from[0], int(r.icd10_from[1:3]), int(r.icd10_to[1:3])
                return tuple(f"{letter}{k:02d}.2" for k in range(lo, hi + 1)), self.domain_names.index(r.domain)
        return (), -1

    def t(self, source: str, event_type: str) -> int:
        return self.index[(source, event_type)]

    def role(self, code: str) -> int:
        return self.roles.index(code)


def _check_behaviour(contract: Contract) -> None:
    """The behaviour tables may only name contract event types and codes."""
    known = contract.all_event_types()
    for table in (RATES, AGE_MULT_TYPE, PAIRS, SPELLS, BRIAN):
        for key in table:
            if key not in known:
                raise ValueError(f"synth: {key} is not an event type of contract v{contract.version}")
    for (src, _), (end, *_rest) in PAIRS.items():
        if (src, end) not in known:
            raise ValueError(f"synth: {(src, end)} is not an event type of contract v{contract.version}")
    police_roles = set(contract.source("police").column("role").codes or ())
    for et, odds in POLICE_ROLES.items():
        if ("police", et) not in known or set(odds) - police_roles:
            raise ValueError(f"synth: police roles for {et!r} do not match the contract")


def _uniform_days(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A uniform day in [lo, hi] for each pair."""
    return lo + np.floor(rng.random(len(lo)) * (hi - lo + 1)).astype(np.int64)


def _background(rng: np.random.Generator, cat: Catalogue, p: People, lo: np.ndarray, hi: np.ndarray) -> Events:
    """Constant-rate contacts of everyone: one Poisson count per person and type, dates uniform."""
    band = _age_band(p.age)
    years = np.clip(hi - lo + 1, 0, None) / YEAR
    parts = []
    for k, (source, et) in enumerate(cat.types):
        base = cat.rate[k].base
        if base <= 0:
            continue
        mult = np.array(AGE_MULT_TYPE.get((source, et), AGE_MULT.get(source, (1, 1, 1, 1))))[band]
        counts = rng.poisson(base * mult * p.vuln * years)
        who = np.repeat(np.arange(p.n), counts)
        parts.append(_events(who, k, _uniform_days(rng, lo[who], hi[who])))
    return Events.concat(parts)


def _cohort_events(rng: np.random.Generator, cat: Catalogue, c: Cohort, s: int, a: int) -> Events:
    """Time-varying contacts of the risk cohort on 30-day bins (rising, crisis, recovery)."""
    edges = np.append(np.arange(s, a + 1, BIN_DAYS), a + 1)
    width = np.diff(edges)
    mid = edges[:-1] + width / 2
    hi_kind = {name: i for i, name in enumerate(HIGH_INTENSITY_KINDS)}
    parts = []
    for k, (source, et) in enumerate(cat.types):
        r = cat.rate[k]
        if r.crisis <= 0:
            continue
        rate = np.full(len(c.idx), r.crisis)
        role = np.full(len(c.idx), -1, dtype=np.int8)
        if k in cat.evidence:
            d, roles = cat.evidence[k]
            if roles:  # e.g. violence as victim: others still meet the type, in other roles
                rate *= np.where(c.domains[:, d], 1.0, 0.3)
                role = np.where(c.domains[:, d], cat.role(roles[0]), -1).astype(np.int8)
            else:
                rate *= c.domains[:, d]
        elif r.affinity in cat.domain_names:
            rate *= np.where(c.domains[:, cat.domain_names.index(r.affinity)], 1.0, 0.25)
        rate *= _high_intensity_mult(cat, k, c.high_intensity, hi_kind)
        expected = rate[:, None] * _intensity(c, r.stage, mid) * (width / YEAR)[None, :]
        counts = rng.poisson(expected)
        i, b = np.nonzero(counts)
        n = counts[i, b]
        i, b = np.repeat(i, n), np.repeat(b, n)
        day = edges[b] + np.floor(rng.random(len(b)) * width[b]).astype(np.int64)
        parts.append(_events(c.idx[i], k, day, role[i]))
    return Events.concat(parts)


def _high_intensity_mult(cat: Catalogue, k: int, hi: np.ndarray, hi_kind: dict[str, int]) -> np.ndarray:
    """Frequent attenders: A&E, police or homelessness contacts several times as often."""
    source, et = cat.types[k]
    kind = None
    if (source, et) == ("health", "ae_attendance"):
        kind = "ae"
    elif source == "police":
        kind = "police"
    elif k in cat.evidence and cat.domain_names[cat.evidence[k][0]] == "homelessness":
        kind = "homelessness"
    if kind is None:
        return np.ones(len(hi))
    return np.where(hi == hi_kind[kind], HIGH_INTENSITY_MULT, 1.0)


def _household_children(rng: np.random.Generator, cat: Catalogue, p: People, c: Cohort) -> Events:
    """Children's social care around a parent's escalation, mirrored on the parent as parent_carer.

    Referral during the parent's escalation, then child in need, then (for
    some) child protection and (for fewer) being looked after.
    """
    parent_of_hh = np.full(p.n_households, -1)
    is_crisis = c.archetype != "near_miss"
    order = np.argsort(is_crisis, kind="stable")  # crisis parents win ties
    parent_of_hh[p.household[c.idx[order]]] = order
    kids = np.flatnonzero(p.is_child & (parent_of_hh[p.household] >= 0))
    j = parent_of_hh[p.household[kids]]
    p_ref = np.where(is_crisis[j], 0.6, 0.25)
    keep = rng.random(len(kids)) < p_ref
    kids, j = kids[keep], j[keep]
    n = len(kids)
    esc, peak = c.escalation[j], c.peak[j]
    referral = esc + (rng.random(n) * 0.8 * (peak - esc)).astype(np.int64)
    cin = referral + rng.integers(14, 61, n)
    has_cin = rng.random(n) < 0.8
    cp = cin + rng.integers(30, 181, n)
    has_cp = has_cin & is_crisis[j] & (rng.random(n) < 0.5)
    lac = cp + rng.integers(30, 366, n)
    has_lac = has_cp & (rng.random(n) < 0.2)
    parents = c.idx[j]
    subject, carer = cat.role("subject"), cat.role("parent_carer")
    steps = [("child_referral", np.ones(n, bool), referral), ("child_in_need_start", has_cin, cin),
             ("child_protection_start", has_cp, cp), ("looked_after_start", has_lac, lac)]
    parts = []
    for et, mask, day in steps:
        k = cat.t("social_care", et)
        parts.append(_events(kids[mask], k, day[mask], subject))
        if et in ("child_referral", "child_protection_start"):
            parts.append(_events(parents[mask], k, day[mask], carer))
    return Events.concat(parts)


def _other_children(rng: np.random.Generator, cat: Catalogue, p: People, s: int, a: int) -> Events:
    """Background children in need and care leavers, outside the cohort's households."""
    kids = np.flatnonzero(p.is_child & (rng.random(p.n) < 0.004))
    ref = rng.integers(s, a + 1, len(kids))
    cin = ref + rng.integers(14, 61, len(kids))
    young = np.flatnonzero(~p.is_child & (p.age < 21.5) & (rng.random(p.n) < 0.01))
    eighteen = p.birth[young] + int(18 * YEAR)
    leaver = _uniform_days(rng, np.maximum(eighteen, s), np.full(len(young), a))
    subject = cat.role("subject")
    return Events.concat([
        _events(kids, cat.t("social_care", "child_referral"), ref, subject),
        _events(kids, cat.t("social_care", "child_in_need_start"), cin, subject),
        _events(young, cat.t("social_care", "care_leaver"), leaver, subject),
    ])


def _brian_events(rng: np.random.Generator, cat: Catalogue, p: People, a: int, lo: int) -> Events:
    """Brian's ten years: fixed counts per type, dates uniform over the whole decade."""
    parts = []
    for key, count in BRIAN.items():
        parts.append(_events(np.full(count, p.brian), cat.t(*key), rng.integers(lo, a + 1, count)))
    ev = Events.concat(parts)
    # Violence as a victim, as the contract's domain rule asks.
    for k, (_d, roles) in cat.evidence.items():
        if roles:
            m = (ev.etype == k) & (rng.random(len(ev.day)) < 0.6)
            ev.role[m] = cat.role(roles[0])
    return ev


def _pair_ends(rng: np.random.Generator, cat: Catalogue, ev: Events, last: np.ndarray) -> tuple[Events, np.ndarray]:
    """End events for starts (treatment exit, TA end, CP end, LAC end); returns them and end days of every row.

    An end only exists once it has happened (not after `last`, the person's
    last possible day).
    """
    end_day = np.full(len(ev.day), -1, dtype=np.int64)
    parts = []
    for (source, start), (end, p_end, lo, hi) in PAIRS.items():
        rows = np.flatnonzero(ev.etype == cat.t(source, start))
        day = ev.day[rows] + rng.integers(lo, hi + 1, len(rows))
        ok = (rng.random(len(rows)) < p_end) & (day <= last[ev.person[rows]])
        end_day[rows[ok]] = day[ok]
        parts.append(_events(ev.person[rows[ok]], cat.t(source, end), day[ok], ev.role[rows[ok]]))
    return Events.concat(parts), end_day


# --------------------------------------------------------------------------- columns


@dataclass
class Detail:
    """The optional columns of events, decided once for all rows."""

    end_day: np.ndarray  # -1 = null
    los: np.ndarray  # -1 = null
    diag: np.ndarray  # object array of str or None
    amount: np.ndarray  # float, nan = null
    role: np.ndarray  # index into the role vocabulary, -1 = null


def _details(rng: np.random.Generator, cat: Catalogue, ev: Events, end_day: np.ndarray,
             substance_person: np.ndarray, last: np.ndarray) -> Detail:
    """Fill roles, diagnoses, lengths of stay, end dates and arrears amounts from the type of each row."""
    n = len(ev.day)
    los = np.full(n, -1, dtype=np.int64)
    for et, mean in ADMISSION_MEAN_LOS.items():
        rows = np.flatnonzero(ev.etype == cat.t("health", et))
        stay = rng.geometric(1 / (mean + 1), len(rows)) - 1
        done = ev.day[rows] + stay <= last[ev.person[rows]]
        los[rows[done]] = stay[done]
        end_day[rows[done]] = ev.day[rows[done]] + stay[done]
    for key, (lo, hi) in SPELLS.items():
        rows = np.flatnonzero(ev.etype == cat.t(*key))
        end = ev.day[rows] + rng.integers(lo, hi + 1, len(rows))
        done = end <= last[ev.person[rows]]
        end_day[rows[done]] = end[done]
    amount = np.full(n, np.nan)
    rows = np.flatnonzero(ev.etype == cat.t("housing", "rent_arrears"))
    amount[rows] = np.round(np.clip(rng.lognormal(np.log(450), 0.8, len(rows)), 5, 100_000), 2)
    return Detail(end_day, los, _diagnoses(rng, cat, ev, substance_person), amount, _roles(rng, cat, ev))


def _diagnoses(rng: np.random.Generator, cat: Catalogue, ev: Events, substance_person: np.ndarray) -> np.ndarray:
    """ICD-10 codes on coded health types; substance users' contacts often carry F1x codes."""
    diag = np.full(len(ev.day), None, dtype=object)
    for et, codes in DIAGNOSES.items():
        if ("health", et) not in cat.index:
            continue
        rows = np.flatnonzero(ev.etype == cat.t("health", et))
        coded = rows[rng.random(len(rows)) < CODED_SHARE]
        diag[coded] = np.array(codes, dtype=object)[rng.integers(0, len(codes), len(coded))]
    if cat.substance_codes:
        health = np.isin(ev.etype, [cat.t("health", e) for e in ("ae_attendance", "emergency_admission",
                                                                 "substance_treatment_start", "substance_treatment_exit")])
        rows = np.flatnonzero(health & substance_person[ev.person])
        rows = rows[rng.random(len(rows)) < SUBSTANCE_CODED_SHARE]
        codes = np.array(cat.substance_codes, dtype=object)
        diag[rows] = codes[rng.integers(0, len(codes), len(rows))]
    return diag


def _roles(rng: np.random.Generator, cat: Catalogue, ev: Events) -> np.ndarray:
    """Rows without a role yet: police by the type's odds, social care as the subject; others null."""
    role = ev.role.astype(np.int8).copy()
    for et, odds in POLICE_ROLES.items():
        rows = np.flatnonzero((ev.etype == cat.t("police", et)) & (role < 0))
        picks = _choice(rng, odds, len(rows))
        role[rows] = np.array([cat.role(r) for r in odds], dtype=np.int8)[picks]
    sc = np.isin(ev.etype, [cat.t("social_care", e) for e in cat.contract.source("social_care").event_types])
    role[sc & (role < 0)] = cat.role("subject")
    no_role = ~np.isin(cat.source[ev.etype], [s.name for s in cat.contract.event_sources if "role" in s.column_names])
    role[no_role] = -1
    return role


ARROW_TYPES = {"string": pa.string(), "date": pa.date32(), "boolean": pa.bool_(),
               "integer": pa.int32(), "decimal": pa.decimal128(10, 2)}


def _dates(days: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    arr = days.astype("datetime64[D]")
    return pa.array(arr, type=pa.date32(), mask=None if valid is None else ~valid)


def _table(source: Source, cols: dict[str, pa.Array], n: int) -> pa.Table:
    """Columns in contract order with contract types; absent optional columns are all null."""
    arrays, fields = [], []
    for col in source.columns:
        typ = ARROW_TYPES[col.type]
        arr = cols.get(col.name)
        arr = pa.nulls(n, typ) if arr is None else arr.cast(typ)
        arrays.append(arr)
        fields.append(pa.field(col.name, typ, nullable=not col.required))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _event_table(cat: Catalogue, source: Source, ev: Events, det: Detail, rows: np.ndarray,
                 record_id: pa.Array, deleted: np.ndarray, pids: pa.Array, hh_ids: pa.Array,
                 person_hh: np.ndarray) -> pa.Table:
    """One event source's delivery from selected rows of the event arrays."""
    names = pa.array([e for _, e in cat.types])
    person = pa.array(ev.person[rows])
    cols: dict[str, pa.Array] = {
        "record_id": record_id,
        "person_id": pc.take(pids, person),
        "event_date": _dates(ev.day[rows]),
        "event_type": pc.take(names, pa.array(ev.etype[rows])),
        "end_date": _dates(det.end_day[rows], det.end_day[rows] >= 0),
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
    return _table(source, cols, len(rows))


# --------------------------------------------------------------------------- writing


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")


def _geography(n: int) -> tuple[int, int, list[str], list[str]]:
    """LSOAs of about 1,500 residents and teams of about 40,000 (at least three)."""
    teams = max(MIN_TEAMS, round(n / PEOPLE_PER_TEAM))
    lsoas = max(round(n / RESIDENTS_PER_LSOA), 2 * teams)
    lsoa_codes = [f"E01{12_000 + i:06d}" for i in range(lsoas)]
    team_codes = [f"NT{i + 1:02d}" for i in range(teams)]
    return lsoas, teams, lsoa_codes, [team_codes[i * teams // lsoas] for i in range(lsoas)]


def _write_neighbourhoods(path: Path, lsoa_codes: list[str], lsoa_team: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["lsoa21", "team"])
        w.writerows(zip(lsoa_codes, lsoa_team))


def _month_text(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype("datetime64[D]").astype("datetime64[M]").astype(str))


@dataclass
class Register:
    history: pa.Table
    second: pa.Table
    movers: int
    final_lsoa: np.ndarray


def _register(rng: np.random.Generator, contract: Contract, p: People, pids: pa.Array, hh_ids: list[str],
              seed: int, n_lsoa: int, lsoa_codes: list[str], a: int) -> Register:
    """One register row per person; the `_2` delivery re-sends movers' rows with a new LSOA and household."""
    src = contract.source("register")
    codes = pa.array(lsoa_codes)
    rid = _record_ids(RECORD_PREFIX["register"], 1, p.n)
    dead = p.death <= a

    def table(rows: np.ndarray, lsoa: np.ndarray, hh: pa.Array) -> pa.Table:
        cols = {
            "record_id": rid.take(pa.array(rows)),
            "person_id": pids.take(pa.array(rows)),
            "birth_year_month": _month_text(p.birth[rows]),
            "sex": pc.take(pa.array(list(SEX_ODDS)), pa.array(p.sex[rows])),
            "ethnic_group": pc.take(pa.array(list(ETHNIC_ODDS)), pa.array(p.ethnic[rows])),
            "lsoa21": pc.take(codes, pa.array(lsoa[rows])),
            "household_id": hh,
            "date_of_death": _dates(np.minimum(p.death[rows], a), dead[rows]),
            "opted_out": pa.array(p.opted_out[rows]),
            "deleted": pa.array(np.zeros(len(rows), bool)),
        }
        return _table(src, cols, len(rows))

    hh_arr = pa.array(hh_ids)
    everyone = np.arange(p.n)
    history = table(everyone, p.lsoa, hh_arr.take(pa.array(p.household)))
    moving_hh = rng.random(p.n_households) < MOVING_HOUSEHOLD_SHARE
    moving_hh[p.household[p.brian]] = False
    movers = np.flatnonzero(moving_hh[p.household] & ~dead)
    new_lsoa = p.lsoa.copy()
    hh_shift = rng.integers(1, max(n_lsoa, 2), p.n_households)
    new_lsoa[movers] = (p.lsoa[movers] + hh_shift[p.household[movers]]) % n_lsoa
    new_hh = pa.array(_pseudonyms(seed, "household-moved", p.n_households))
    second = table(movers, new_lsoa, new_hh.take(pa.array(p.household[movers])))
    return Register(history, second, len(movers), new_lsoa)


# --------------------------------------------------------------------------- deliveries of events


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


# --------------------------------------------------------------------------- main


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

    n_lsoa, n_teams, lsoa_codes, lsoa_team = _geography(people)
    p = _make_people(_rng(seed, "people"), people, n_lsoa, a, s)
    c = _make_cohort(_rng(seed, "cohort"), p, cat.domain_names, a, s)
    _cohort_deaths(_rng(seed, "cohort-deaths"), p, c, a, s)
    first = np.maximum(p.birth, s)
    first[p.brian] = brian_lo
    last = np.minimum(p.death, a)

    ev = Events.concat([
        _background(_rng(seed, "background"), cat, p, first, last),
        _cohort_events(_rng(seed, "cohort-events"), cat, c, s, a),
        _household_children(_rng(seed, "children"), cat, p, c),
        _other_children(_rng(seed, "other-children"), cat, p, s, a),
        _brian_events(_rng(seed, "brian"), cat, p, a, brian_lo),
    ])
    ev = ev.take((ev.day >= first[ev.person]) & (ev.day <= last[ev.person]))
    ends, end_day = _pair_ends(_rng(seed, "pairs"), cat, ev, last)
    ev = Events.concat([ev, ends])
    end_day = np.concatenate([end_day, np.full(len(ends.day), -1, dtype=np.int64)])
    order = np.lexsort((ev.etype, ev.person, ev.day))
    ev, end_day = ev.take(order), end_day[order]
    substance_person = np.zeros(p.n, bool)
    if cat.substance_domain >= 0:
        substance_person[c.idx[c.domains[:, cat.substance_domain]]] = True
        substance_person[p.brian] = True
    det = _details(_rng(seed, "details"), cat, ev, end_day, substance_person, last)

    pids = pa.array(_pseudonyms(seed, "person", p.n - 1) + [brian_person_id(seed)])
    hh_list = _pseudonyms(seed, "household", p.n_households)
    hh_ids = pa.array(hh_list)
    stamp = f"{as_of:%Y%m%d}"
    files: list[tuple[str, int]] = []

    def write(source: str, table: pa.Table, seq: int = 1) -> None:
        if table.num_rows == 0:  # an empty delivery breaks the contract: send none
            return
        name = f"{source}_{stamp}{'' if seq == 1 else f'_{seq}'}.parquet"
        _write(table, cfg.landing / source / name)
        files.append((f"{source}/{name}", table.num_rows))

    reg = _register(_rng(seed, "register"), contract, p, pids, hh_list, seed, n_lsoa, lsoa_codes, a)
    write("register", reg.history)
    write("register", reg.second, 2)

    split_rng = _rng(seed, "split")
    keep = np.ones(len(ev.day), bool)
    eff_day = ev.day.copy()
    for src in contract.event_sources:
        rows = np.flatnonzero(cat.source[ev.etype] == src.name)
        sp = _split(split_rng, ev, rows, a, p.brian)
        prefix = RECORD_PREFIX.get(src.name, src.name[:3].upper())
        rid_of = np.empty(len(ev.day), dtype=np.int64)
        rid_of[rows] = np.arange(1, len(rows) + 1)  # record ids follow date order, late ones included
        rid = _record_ids(prefix, 1, len(rows))
        hist = _event_table(cat, src, ev, det, sp.history, rid.take(pa.array(rid_of[sp.history] - 1)),
                            np.zeros(len(sp.history), bool), pids, hh_ids, p.household)
        second_rows = np.concatenate([sp.late, sp.corrected, sp.retracted])
        deleted = np.concatenate([np.zeros(len(sp.late) + len(sp.corrected), bool), np.ones(len(sp.retracted), bool)])
        day_backup = ev.day[sp.corrected].copy()
        ev.day[sp.corrected] = sp.corrected_day
        second = _event_table(cat, src, ev, det, second_rows, rid.take(pa.array(rid_of[second_rows] - 1)),
                              deleted, pids, hh_ids, p.household)
        ev.day[sp.corrected] = day_backup
        write(src.name, hist)
        write(src.name, second, 2)
        keep[sp.retracted] = False
        eff_day[sp.corrected] = sp.corrected_day

    eff = Events(ev.person, ev.etype, eff_day, ev.role).take(keep)
    eff_det = Detail(det.end_day[keep], det.los[keep], det.diag[keep], det.amount[keep], det.role[keep])
    outcomes = _outcomes(_rng(seed, "outcomes"), contract, p, c, pids, lsoa_team, reg.final_lsoa, a, s)
    write("outcomes", outcomes)
    _write_neighbourhoods(cfg.neighbourhoods, lsoa_codes, lsoa_team)

    truth = _answer_key(p, c, pids, hh_ids, a)
    _write(truth, answer_key)
    return _summary(cfg, cat, p, c, eff, eff_det, truth, files, reg, outcomes.num_rows, as_of, years, seed,
                    n_lsoa, n_teams, lsoa_team, answer_key, time.perf_counter() - t0)


def _cohort_deaths(rng: np.random.Generator, p: People, c: Cohort, a: int, s: int) -> None:
    """Excess deaths in crisis (overdose, suicide, illness): a few per cent of those in crisis die."""
    in_crisis = (c.level >= 1) & (c.peak <= a)
    dies = in_crisis & (rng.random(len(c.idx)) < 0.04)
    lo = np.clip(np.maximum(c.peak, s), s, a)
    day = _uniform_days(rng, lo, np.full(len(c.idx), a))
    p.death[c.idx[dies]] = np.minimum(p.death[c.idx[dies]], day[dies])


def _outcomes(rng: np.random.Generator, contract: Contract, p: People, c: Cohort, pids: pa.Array,
              lsoa_team: list[str], final_lsoa: np.ndarray, a: int, s: int) -> pa.Table:
    """What teams recorded after contacting some people who entered crisis (not opted out).

    The team is that of the person's latest register row, as the pipeline links it.
    """
    people = c.idx
    entered = (c.level >= 1) & (c.peak <= a) & ~p.opted_out[people] & (p.death[people] > a)
    chosen = np.flatnonzero(entered & (rng.random(len(people)) < 0.35))
    reps = rng.integers(1, 3, len(chosen))
    j = np.repeat(chosen, reps)
    lo = np.clip(np.maximum(c.peak[j] + 14, a - 365), s, a)
    day = np.sort(_uniform_days(rng, lo, np.full(len(j), a)))
    order = np.lexsort((c.idx[j], day))
    j, day = j[order], day[order]
    person = c.idx[j]
    teams = pa.array(lsoa_team)
    outcome = pc.take(pa.array(list(OUTCOME_ODDS)), pa.array(_choice(rng, OUTCOME_ODDS, len(j))))
    cols = {
        "record_id": _record_ids(RECORD_PREFIX["outcomes"], 1, len(j)),
        "person_id": pids.take(pa.array(person)),
        "team": teams.take(pa.array(final_lsoa[person])),
        "event_date": _dates(day),
        "outcome": outcome,
    }
    return _table(contract.source("outcomes"), cols, len(j))


def _answer_key(p: People, c: Cohort, pids: pa.Array, hh_ids: pa.Array, a: int) -> pa.Table:
    """Each person's latent truth: archetype, risk at as_of, escalation/crisis/recovery dates."""
    n = p.n
    arche = np.where(p.is_child, "child", "stable").astype(object)
    base = np.clip(0.004 * p.vuln, 0, 0.05)
    risk = base.copy()
    esc = np.full(n, -1, dtype=np.int64)
    peak = np.full(n, -1, dtype=np.int64)
    level = np.zeros(n)
    crisis = np.full(n, -1, dtype=np.int64)
    rec = np.full(n, -1, dtype=np.int64)
    arche[c.idx] = c.archetype
    risk[c.idx] = np.maximum(risk[c.idx], latent_risk(c, a))
    esc[c.idx] = c.escalation
    peak[c.idx] = c.peak
    level[c.idx] = c.level
    reaches = c.level >= 1
    crisis[c.idx[reaches]] = c.peak[reaches]
    rec[c.idx] = np.where(c.recovery < NEVER, c.recovery, -1)
    arche[p.brian] = "brian"
    risk[p.brian] = 1.0
    crisis[p.brian] = a - int(BRIAN_YEARS * YEAR) + 1
    in_crisis = (crisis >= 0) & (crisis <= a) & ((rec < 0) | (rec > a)) & (p.death > a)
    wobbling = (crisis > a) & (crisis <= a + 182) & (p.death > a)
    return pa.table({
        "person_id": pids,
        "household_id": hh_ids.take(pa.array(p.household)),
        "archetype": pa.array(arche.tolist(), type=pa.string()),
        "latent_risk": pa.array(np.round(risk, 4)),
        "escalation_date": _dates(esc, esc >= 0),
        "crisis_date": _dates(crisis, crisis >= 0),
        "recovery_date": _dates(rec, rec >= 0),
        # the trajectory, so that the latent risk can be read at any date (`answer_key_risk`)
        "base_risk": pa.array(np.round(base, 4)),
        "peak_date": _dates(peak, peak >= 0),
        "level": pa.array(np.round(level, 4)),
        "in_crisis_at_as_of": pa.array(in_crisis),
        "enters_crisis_within_6_months": pa.array(wobbling),
        "date_of_death": _dates(np.minimum(p.death, a), p.death <= a),
    })


def _summary(cfg: PlaceConfig, cat: Catalogue, p: People, c: Cohort, ev: Events, det: Detail, truth: pa.Table,
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


# --------------------------------------------------------------------------- one more day

DAY_LAGS = {0: 0.55, 1: 0.25, 2: 0.08, 3: 0.04, 7: 0.04, 14: 0.03, 28: 0.01}  # event date = day - lag
DAY_CORRECTED_SHARE, DAY_RETRACTED_SHARE = 0.01, 0.002  # of the day's new rows, at least one each
DAY_MOVERS_SHARE, DAY_DEATHS_SHARE = 0.00005, 0.00003  # of registered people, at least one each


def _delivered(cfg: PlaceConfig, contract: Contract, source: str, before: date) -> pa.Table | None:
    """Every Parquet delivery of a source dated before `before`, from landing and archive, in delivery order."""
    found: dict[str, Path] = {}
    for folder in (cfg.archive / source, cfg.landing / source):  # landing wins: not yet loaded
        for path in sorted(folder.glob(f"{source}_*.parquet")) if folder.is_dir() else ():
            name = contract.parse_file_name(path.name)
            if name is not None and name.source == source and name.delivery_date < before:
                found[path.name] = path
    if not found:
        return None
    order = sorted(found, key=lambda n: (contract.parse_file_name(n).delivery_date, contract.parse_file_name(n).seq))
    return pa.concat_tables([pq.read_table(found[n]) for n in order], promote_options="permissive")


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
    lag = np.array(list(DAY_LAGS))[_choice(rng, {str(k): v for k, v in DAY_LAGS.items()}, n)]
    new_day = d - lag
    old_day = _day_numbers(new.column("event_date"))
    columns = {"event_date": _dates(new_day),
               "record_id": pa.array([f"{RECORD_PREFIX.get(source, source[:3].upper())}-{day:%Y%m%d}-{i:06d}"
                                      for i in range(1, n + 1)]),
               "deleted": pa.array(np.zeros(n, bool))}
    if "end_date" in new.column_names:  # keep a spell's length; an end still to come is not known yet
        valid = new.column("end_date").is_valid().to_numpy(zero_copy_only=False)
        end = _day_numbers(new.column("end_date")) + (new_day - old_day)
        columns["end_date"] = _dates(end, valid & (end <= d))
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
                           _dates(new_day).cast(rows.schema.field("event_date").type))
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
    outcome = pc.take(pa.array(list(OUTCOME_ODDS)), pa.array(_choice(rng, OUTCOME_ODDS, n)))
    rows = rows.set_column(rows.column_names.index("event_date"), "event_date",
                           _dates(np.full(n, d)).cast(rows.schema.field("event_date").type))
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
        rng = _rng(seed, f"day-{day:%Y%m%d}-{source.name}")
        if source.kind == "register":
            table = _day_register(rng, history, day)
        elif source.kind == "outcome":
            table = _day_outcomes(rng, history, day)
        else:
            table = _day_events(rng, history, source.name, day)
        table = _table(source, {c: table.column(c) for c in table.column_names}, table.num_rows)
        name = f"{source.name}_{day:%Y%m%d}.parquet"
        _write(table, cfg.landing / source.name / name)
        written.append((f"{source.name}/{name}", table.num_rows))
    return written
