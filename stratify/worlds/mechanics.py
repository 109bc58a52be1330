"""The stepwise world's behaviour tables: how often, how late, how many (no code, only numbers)."""

from __future__ import annotations

PEOPLE_PER_TEAM = 12_500
RESIDENTS_PER_LSOA = 1_600
HOUSEHOLD_SIZE_ODDS = {1: 0.31, 2: 0.33, 3: 0.16, 4: 0.13, 5: 0.07}
CHILD_SHARE_OF_EXTRA_MEMBERS = 0.55  # members beyond the first adult who are children (age < 18)
OPTED_OUT_SHARE = 0.02
DEATH_RATE_PER_YEAR_OVER_75 = 0.04
SEX_CODES, SEX_ODDS = ("F", "M", "X", "U"), (0.505, 0.485, 0.005, 0.005)
ETHNIC_CODES, ETHNIC_ODDS = ("A", "B", "M", "W", "O", "Z"), (0.10, 0.04, 0.03, 0.78, 0.02, 0.03)

# Paths: the share of adults who start one, how many domains they go on to acquire, the gaps between them.
PATH_SHARE = 0.05
SEVERITY_ODDS = {1: 0.34, 2: 0.26, 3: 0.20, 4: 0.12, 5: 0.08}
GAP_MEDIAN_DAYS, GAP_SIGMA = 110.0, 0.9  # log-normal: irregular, sometimes weeks, sometimes a year
DOMAIN_ORDER_WEIGHTS = {"substance_misuse": 1.2, "mental_ill_health": 1.4, "violence_and_abuse": 1.0,
                        "homelessness": 0.8, "offending": 0.6}
DOMAIN_EVENT_EVERY_DAYS = 40.0  # while a domain is active, one of its events about this often
RECOVERY_SHARE = 0.55  # of paths: recover after their last domain
RECOVERY_MEDIAN_DAYS, RECOVERY_SIGMA = 200.0, 0.7
RECOVERY_SPREAD_DAYS = 60  # domains stop one by one over this many days
# A household member's third domain: others of the household start a path with this chance, after
# about this many days; those already on a path have their remaining gaps multiplied by this.
HOUSEHOLD_START_SHARE, HOUSEHOLD_START_DAYS, HOUSEHOLD_GAP_FACTOR = 0.30, 90.0, 0.5
YEAR_DAYS = 365.25
CHILD_REFERRAL_SHARE = 0.6  # of children whose parent reaches three domains

# Each domain: its events (contract codes, with odds), and the warning contacts that lead into it.
DOMAIN_EVENTS = {
    "homelessness": {("housing", "homeless_approach"): 0.5, ("housing", "relief_duty"): 0.2,
                     ("housing", "temporary_accommodation_start"): 0.2, ("housing", "rough_sleeping"): 0.1},
    "mental_ill_health": {("health", "mental_health_crisis"): 0.45, ("health", "self_harm"): 0.3,
                          ("police", "mental_health_incident"): 0.25},
    "substance_misuse": {("health", "overdose"): 0.35, ("health", "substance_treatment_start"): 0.65},
    "violence_and_abuse": {("police", "domestic_abuse_incident"): 0.5, ("police", "violent_crime"): 0.2,
                           ("social_care", "adult_safeguarding_concern"): 0.3},
    "offending": {("police", "arrest"): 0.7, ("police", "custody"): 0.3},
}
WARNINGS = {
    "homelessness": {("housing", "rent_arrears"): 0.6, ("housing", "eviction_notice"): 0.4},
    "mental_ill_health": {("health", "gp_missed_appointment"): 0.5, ("health", "mental_health_referral"): 0.5},
    "substance_misuse": {("health", "ae_attendance"): 0.7, ("health", "gp_missed_appointment"): 0.3},
    "violence_and_abuse": {("police", "incident"): 0.6, ("social_care", "adult_contact"): 0.4},
    "offending": {("police", "asb_report"): 0.5, ("police", "other_crime"): 0.5},
}
WARNING_LEAD_MEDIAN_DAYS = 70.0  # warnings start about this long before the domain
WARNING_EVERY_DAYS = 25.0

# Background contacts: a log-normal propensity per person (heavy tails), rates per person-year at 1.
PROPENSITY_SIGMA = 1.1
NOISE_RATES = {("health", "gp_missed_appointment"): 0.9, ("health", "ae_attendance"): 0.35,
               ("health", "elective_admission"): 0.08, ("health", "emergency_admission"): 0.06,
               ("social_care", "adult_contact"): 0.05, ("housing", "rent_arrears"): 0.06,
               ("housing", "asb_case"): 0.03, ("police", "incident"): 0.12, ("police", "asb_report"): 0.06,
               ("police", "other_crime"): 0.04}
BURSTS_PER_YEAR = 0.05  # at propensity 1
BURST_ZIPF_A, BURST_MAX, BURST_DAYS = 2.3, 14, 28  # burst size 1 + Zipf(a), capped; spread over so many days
BURST_TYPES = {("health", "ae_attendance"): 0.6, ("police", "incident"): 0.3, ("social_care", "adult_contact"): 0.1}

# Reporting: each agency's lag (log-normal, days) and how often it delivers a batch.
REPORTING = {  # source: (lag median days, lag sigma, batch every days)
    "health": (2.0, 0.6, 7),
    "social_care": (10.0, 0.6, 14),
    "housing": (5.0, 0.5, 28),
    "police": (7.0, 1.2, 7),
}
RECENT_FILES_DAYS = 56  # batches in the last eight weeks are files of their own; earlier ones one history file
RECORD_PREFIX = {"register": "SWR", "health": "SWH", "social_care": "SWS", "housing": "SWU", "police": "SWP",
                 "outcomes": "SWO"}
ROLE_VICTIM_TYPES = ("domestic_abuse_incident", "violent_crime")
OUTCOME_CONTACTED_SHARE = 0.2  # of people past three domains in the last year: a team recorded `contacted`
