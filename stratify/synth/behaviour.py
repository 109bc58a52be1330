"""How often things happen in the synthetic place: rates, ages, spells, roles, codes, shares.

Behaviour, not contract: every event type, code and column comes from the contract;
these tables only say how often and how long. `stratify.synth.catalogue` checks that
they name nothing the contract does not have.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

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
