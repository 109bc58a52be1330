"""Feature names into plain English, with the person's own evidence.

Feature columns follow one naming scheme (`<agency>_events_<w>d`,
`<source>_<event_type>_<w>d`, `<agency>_trend_90d`,
`<agency>_days_since_last`, `smd_<domain>_365d`, ...), so one small
function can say what any of them means for a person. Counts agree with
their nouns ("1 agency", "2 agencies"): every noun used is in a table below
with its singular and its plural, one row per contract event code.

`describe(feature, row, typical)` quotes the person's value and, when given,
the place's typical person's value beside it ("3 police contacts in 90 days
(typical: none)"), so a reason can be checked against the records and read
as what sets the person apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from stratify.contract import load_contract

AGENCY_LABELS = {"health": "health", "social_care": "social care", "housing": "housing", "police": "police"}
NO_CONTACT_DAYS = 730  # `<agency>_days_since_last` when there was no contact in two years (features/20_agency_activity.sql)
TREND_BEFORE_DAYS = 275  # the trend compares the last 90 days with the 275 days before them

# Each contract event code (stratify/contract.yaml) as a noun: (one, many).
EVENT_NOUNS: dict[str, tuple[str, str]] = {
    "ae_attendance": ("A&E attendance", "A&E attendances"),
    "emergency_admission": ("emergency hospital admission", "emergency hospital admissions"),
    "elective_admission": ("planned hospital admission", "planned hospital admissions"),
    "mental_health_referral": ("mental health referral", "mental health referrals"),
    "mental_health_crisis": ("mental health crisis contact", "mental health crisis contacts"),
    "mental_health_detention": ("mental health detention", "mental health detentions"),
    "self_harm": ("self-harm episode", "self-harm episodes"),
    "overdose": ("overdose", "overdoses"),
    "substance_treatment_start": ("start of substance misuse treatment", "starts of substance misuse treatment"),
    "substance_treatment_exit": ("exit from substance misuse treatment", "exits from substance misuse treatment"),
    "gp_missed_appointment": ("missed GP appointment", "missed GP appointments"),
    "adult_contact": ("adult social care contact", "adult social care contacts"),
    "adult_assessment": ("adult social care assessment", "adult social care assessments"),
    "adult_safeguarding_concern": ("adult safeguarding concern", "adult safeguarding concerns"),
    "adult_s42_enquiry": ("adult safeguarding (s42) enquiry", "adult safeguarding (s42) enquiries"),
    "adult_care_package_start": ("new adult care package", "new adult care packages"),
    "child_referral": ("children's social care referral", "children's social care referrals"),
    "child_in_need_start": ("child in need plan started", "child in need plans started"),
    "child_protection_start": ("child protection plan started", "child protection plans started"),
    "child_protection_end": ("child protection plan ended", "child protection plans ended"),
    "looked_after_start": ("start of being looked after", "starts of being looked after"),
    "looked_after_end": ("end of being looked after", "ends of being looked after"),
    "care_leaver": ("care leaver record", "care leaver records"),
    "homeless_approach": ("homelessness approach", "homelessness approaches"),
    "prevention_duty": ("homelessness prevention duty", "homelessness prevention duties"),
    "relief_duty": ("homelessness relief duty", "homelessness relief duties"),
    "main_duty": ("main homelessness duty", "main homelessness duties"),
    "temporary_accommodation_start": ("move into temporary accommodation", "moves into temporary accommodation"),
    "temporary_accommodation_end": ("move out of temporary accommodation", "moves out of temporary accommodation"),
    "rough_sleeping": ("report of rough sleeping", "reports of rough sleeping"),
    "eviction_notice": ("eviction notice", "eviction notices"),
    "rent_arrears": ("rent arrears record", "rent arrears records"),
    "asb_case": ("anti-social behaviour case", "anti-social behaviour cases"),
    "incident": ("police incident", "police incidents"),
    "domestic_abuse_incident": ("domestic abuse incident", "domestic abuse incidents"),
    "missing_person": ("missing person report", "missing person reports"),
    "mental_health_incident": ("mental health incident (police)", "mental health incidents (police)"),
    "arrest": ("arrest", "arrests"),
    "custody": ("time in police custody", "times in police custody"),
    "asb_report": ("anti-social behaviour report", "anti-social behaviour reports"),
    "violent_crime": ("violent crime", "violent crimes"),
    "other_crime": ("other crime", "other crimes"),
}


def _n(value: float) -> str:
    v = float(value)
    return str(int(v)) if v.is_integer() else f"{v:.1f}"


def count(value: float, one: str, many: str) -> str:
    """`1 agency`, `2 agencies`, `0.5 agencies`: the number and the noun that agrees with it."""
    return f"{_n(value)} {one if float(value) == 1 else many}"


def _event_nouns(event_type: str) -> tuple[str, str]:
    if event_type in EVENT_NOUNS:
        return EVENT_NOUNS[event_type]
    words = event_type.replace("_", " ")  # a code the table does not know yet: say it as it is
    return f"{words} record", f"{words} records"


def _days(window: str) -> str:
    return "12 months" if window == "365" else f"{window} days"


def _split_source(name: str) -> tuple[str, str] | None:
    for source in sorted(load_contract().sources, key=len, reverse=True):
        if name.startswith(source + "_"):
            return source, name[len(source) + 1:]
    return None


def _typical(text: str, typical: float | None, none_word: str = "none") -> str:
    """`text (typical: N)`: the place's typical person's value beside the person's own."""
    if typical is None:
        return text
    t = float(typical)
    return f"{text} (typical: {none_word if t == 0 else _n(t)})"


def describe(feature: str, row: Mapping[str, float], typical: float | None = None) -> str:
    """A sentence stating the evidence behind one feature for one person.

    `typical`: the place's typical person's value of the feature (the model's
    reference), quoted beside the person's own where it helps to read it.
    """
    v = row.get(feature, 0)
    if m := re.fullmatch(r"smd_domains_(\d+)d", feature):
        return _typical(f"{count(v, 'disadvantage domain', 'disadvantage domains')} active in {_days(m[1])}", typical)
    if m := re.fullmatch(r"smd_(\w+)_events_90d", feature):
        domain = m[1].replace("_", " ")
        return _typical(f"{count(v, domain + ' event', domain + ' events')} in 90 days", typical)
    if m := re.fullmatch(r"smd_(\w+)_365d", feature):
        return f"{m[1].replace('_', ' ')} {'active' if v else 'not active'} in the last 12 months"
    if m := re.fullmatch(r"agencies_(\d+)d", feature):
        return _typical(f"{count(v, 'agency', 'agencies')} involved in {_days(m[1])}", typical)
    if feature == "all_events_365d":
        return _typical(f"{count(v, 'contact', 'contacts')} with any agency in 12 months", typical)
    if feature == "household_members":
        return "lives alone" if float(v) == 1 else f"{count(v, 'person', 'people')} registered in the household"
    if feature == "household_others_smd_365d":
        return f"{count(v, 'other person', 'other people')} in the household facing disadvantage"
    if feature == "household_children_on_plans_365d":
        return f"{count(v, 'child', 'children')} in the household on a plan or in care this year"
    if feature == "age_years":
        return f"aged {_n(v)}"
    split = _split_source(feature)
    if split is None:
        return f"{feature.replace('_', ' ')}: {_n(v)}"
    source, rest = split
    agency = AGENCY_LABELS.get(source, source.replace("_", " "))
    if m := re.fullmatch(r"events_(\d+)d", rest):
        return _typical(f"{count(v, agency + ' contact', agency + ' contacts')} in {_days(m[1])}", typical)
    if rest == "trend_90d":
        return trend_sentence(agency, float(row.get(f"{source}_events_90d", 0)),
                              float(row.get(f"{source}_events_365d", 0)) - float(row.get(f"{source}_events_90d", 0)))
    if rest == "days_since_last":
        if float(v) >= NO_CONTACT_DAYS:
            return f"no {agency} contact in two years"
        text = f"last {agency} contact {'today' if v == 0 else count(v, 'day', 'days') + ' ago'}"
        if typical is None:
            return text
        if float(typical) >= NO_CONTACT_DAYS:
            return f"{text} (typical: none in two years)"
        return f"{text} (typical: {count(typical, 'day', 'days')} ago)"
    if m := re.fullmatch(r"(\w+)_(\d+)d", rest):
        one, many = _event_nouns(m[1])
        return _typical(f"{count(v, one, many)} in {_days(m[2])}", typical)
    return f"{feature.replace('_', ' ')}: {_n(v)}"


def trend_sentence(agency: str, recent: float, before: float) -> str:
    """Contacts in the last 90 days against the rate of the 275 days before, as rates that compare.

    The feature is `recent - before * 90 / 275`: the words say whether the
    rate per 90 days went up, down or stayed, with both counts behind it.
    """
    now = f"{count(recent, agency + ' contact', agency + ' contacts')} in the last 90 days"
    if not before:
        return f"{now}, none in the 9 months before"
    rate_before = before * 90 / TREND_BEFORE_DAYS
    way = "up from" if recent > rate_before + 1e-9 else "down from" if recent < rate_before - 1e-9 else "the same as"
    rate = f"{rate_before:.1f}".rstrip("0").rstrip(".")
    return f"{now}, {way} about {rate} per 90 days before ({_n(before)} in the 9 months before)"


def crisis_summary(rules_met: int, rules: int) -> str:
    """`meets 2 of 4 crisis rules` (`meets 1 of 1 crisis rule`)."""
    return f"meets {rules_met} of {count(rules, 'crisis rule', 'crisis rules')}"
