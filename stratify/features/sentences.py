"""Feature names into plain English, with the person's own evidence.

Feature columns follow one naming scheme (`<agency>_events_<w>d`,
`<source>_<event_type>_<w>d`, `<agency>_trend_90d`,
`<agency>_days_since_last`, `smd_<domain>_365d`, ...), so one small
function can say what any of them means for a person.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from stratify.contract import load_contract

AGENCY_LABELS = {"health": "health", "social_care": "social care", "housing": "housing", "police": "police"}
EVENT_LABELS = {
    "ae_attendance": "A&E attendances",
    "gp_missed_appointment": "missed GP appointments",
    "asb_case": "anti-social behaviour cases",
    "asb_report": "anti-social behaviour reports",
    "adult_s42_enquiry": "adult safeguarding (s42) enquiries",
    "mental_health_referral": "mental health referrals",
    "child_referral": "children's social care referrals",
}


def _n(value: float) -> str:
    v = float(value)
    return str(int(v)) if v.is_integer() else f"{v:.1f}"


def _event_label(event_type: str) -> str:
    return EVENT_LABELS.get(event_type, event_type.replace("_", " "))


def _split_source(name: str) -> tuple[str, str] | None:
    for source in sorted(load_contract().sources, key=len, reverse=True):
        if name.startswith(source + "_"):
            return source, name[len(source) + 1:]
    return None


def describe(feature: str, row: Mapping[str, float]) -> str:
    """A sentence stating the evidence behind one feature for one person."""
    v = row.get(feature, 0)
    if m := re.fullmatch(r"smd_domains_(\d+)d", feature):
        return f"{_n(v)} disadvantage domains active in {m[1]} days"
    if m := re.fullmatch(r"smd_(\w+)_events_90d", feature):
        return f"{_n(v)} {m[1].replace('_', ' ')} events in 90 days"
    if m := re.fullmatch(r"smd_(\w+)_365d", feature):
        return f"{m[1].replace('_', ' ')} {'active' if v else 'not active'} in the last 12 months"
    if m := re.fullmatch(r"agencies_(\d+)d", feature):
        return f"{_n(v)} agencies involved in {m[1]} days"
    if feature == "all_events_365d":
        return f"{_n(v)} contacts with all agencies in 12 months"
    if feature == "household_members":
        return f"{_n(v)} people in the household"
    if feature == "household_others_smd_365d":
        return f"{_n(v)} others in the household facing disadvantage"
    if feature == "household_children_on_plans_365d":
        return f"{_n(v)} children in the household on a plan or in care this year"
    if feature == "age_years":
        return f"aged {_n(v)}"
    split = _split_source(feature)
    if split is None:
        return f"{feature.replace('_', ' ')}: {_n(v)}"
    source, rest = split
    agency = AGENCY_LABELS.get(source, source.replace("_", " "))
    if m := re.fullmatch(r"events_(\d+)d", rest):
        return f"{_n(v)} {agency} contacts in {m[1]} days"
    if rest == "trend_90d":
        recent = row.get(f"{source}_events_90d", 0)
        before = float(row.get(f"{source}_events_365d", 0)) - float(recent)
        return f"{_n(recent)} {agency} contacts in 90 days, up from {_n(before)} in the 9 months before"
    if rest == "days_since_last":
        return f"last {agency} contact {'today' if v == 0 else f'{_n(v)} days ago'}"
    if m := re.fullmatch(r"(\w+)_(\d+)d", rest):
        return f"{_event_label(m[1])} ({agency}): {_n(v)} in {m[2]} days"
    return f"{feature.replace('_', ' ')}: {_n(v)}"
