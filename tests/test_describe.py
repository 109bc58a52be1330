"""Plain-English evidence for features, as a team lead reads it."""

import pytest

from stratify.features.sentences import describe


@pytest.mark.parametrize("feature, row, text", [
    ("police_events_90d", {"police_events_90d": 3}, "3 police contacts in 90 days"),
    ("health_ae_attendance_90d", {"health_ae_attendance_90d": 5}, "A&E attendances (health): 5 in 90 days"),
    ("social_care_adult_contact_365d", {"social_care_adult_contact_365d": 2}, "adult contact (social care): 2 in 365 days"),
    ("police_trend_90d", {"police_trend_90d": 2.6, "police_events_90d": 3, "police_events_365d": 4},
     "3 police contacts in 90 days, up from 1 in the 9 months before"),
    ("housing_days_since_last", {"housing_days_since_last": 0}, "last housing contact today"),
    ("smd_domains_365d", {"smd_domains_365d": 2}, "2 disadvantage domains active in 365 days"),
    ("smd_violence_and_abuse_365d", {"smd_violence_and_abuse_365d": 1}, "violence and abuse active in the last 12 months"),
    ("household_children_on_plans_365d", {"household_children_on_plans_365d": 1},
     "1 children in the household on a plan or in care this year"),
])
def test_describe(feature, row, text):
    assert describe(feature, row) == text
