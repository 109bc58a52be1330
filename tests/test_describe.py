"""Plain-English evidence for features, as a team lead reads it, and the reasons chosen for a person."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from stratify.features.sentences import crisis_summary, describe, trend_sentence
from stratify.model.contributions import MIN_PEERS, NO_REASON, REASONS_PER_PERSON, reasons, subject


@pytest.mark.parametrize("feature, row, text", [
    ("police_events_90d", {"police_events_90d": 3}, "3 police contacts in 90 days"),
    ("police_events_90d", {"police_events_90d": 1}, "1 police contact in 90 days"),
    ("health_ae_attendance_90d", {"health_ae_attendance_90d": 5}, "5 A&E attendances in 90 days"),
    ("health_ae_attendance_90d", {"health_ae_attendance_90d": 1}, "1 A&E attendance in 90 days"),
    ("social_care_adult_contact_365d", {"social_care_adult_contact_365d": 2},
     "2 adult social care contacts in 12 months"),
    ("social_care_adult_s42_enquiry_90d", {"social_care_adult_s42_enquiry_90d": 1},
     "1 adult safeguarding (s42) enquiry in 90 days"),
    ("police_trend_90d", {"police_trend_90d": 2.6, "police_events_90d": 3, "police_events_365d": 4},
     "3 police contacts in the last 90 days, up from about 0.3 per 90 days before (1 in the 9 months before)"),
    ("housing_days_since_last", {"housing_days_since_last": 0}, "last housing contact today"),
    ("housing_days_since_last", {"housing_days_since_last": 1}, "last housing contact 1 day ago"),
    ("housing_days_since_last", {"housing_days_since_last": 730}, "no housing contact in two years"),
    ("smd_domains_365d", {"smd_domains_365d": 2}, "2 disadvantage domains active in 12 months"),
    ("smd_domains_90d", {"smd_domains_90d": 1}, "1 disadvantage domain active in 90 days"),
    ("smd_violence_and_abuse_365d", {"smd_violence_and_abuse_365d": 1}, "violence and abuse active in the last 12 months"),
    ("agencies_90d", {"agencies_90d": 1}, "1 agency involved in 90 days"),
    ("agencies_90d", {"agencies_90d": 3}, "3 agencies involved in 90 days"),
    ("household_members", {"household_members": 1}, "lives alone"),
    ("household_members", {"household_members": 4}, "4 people registered in the household"),
    ("household_others_smd_365d", {"household_others_smd_365d": 1}, "1 other person in the household facing disadvantage"),
    ("household_children_on_plans_365d", {"household_children_on_plans_365d": 1},
     "1 child in the household on a plan or in care this year"),
    ("household_children_on_plans_365d", {"household_children_on_plans_365d": 2},
     "2 children in the household on a plan or in care this year"),
])
def test_describe(feature, row, text):
    assert describe(feature, row) == text


def test_describe_quotes_the_typical_persons_value_beside_the_persons_own():
    assert describe("police_events_90d", {"police_events_90d": 3}, 0) == "3 police contacts in 90 days (typical: none)"
    assert describe("all_events_365d", {"all_events_365d": 5}, 1) == "5 contacts with any agency in 12 months (typical: 1)"
    assert (describe("health_days_since_last", {"health_days_since_last": 12}, 404)
            == "last health contact 12 days ago (typical: 404 days ago)")
    assert (describe("police_days_since_last", {"police_days_since_last": 12}, 730)
            == "last police contact 12 days ago (typical: none in two years)")


@pytest.mark.parametrize("recent, before, way", [(8, 8, "up from"), (2, 3, "up from"), (1, 11, "down from"),
                                                 (0, 0, None), (3, 0, None)])
def test_the_trend_says_up_only_when_the_rate_went_up(recent, before, way):
    text = trend_sentence("health", recent, before)
    rate_before = before * 90 / 275
    if way is None:
        assert "none in the 9 months before" in text and "up" not in text
    else:
        assert way in text and (recent > rate_before) == (way == "up from")
        assert f"{before} in the 9 months before" in text and "per 90 days" in text  # the numbers that make it comparable


def test_crisis_is_explained_as_rules_met():
    assert crisis_summary(3, 4) == "meets 3 of 4 crisis rules"
    assert crisis_summary(1, 1) == "meets 1 of 1 crisis rule"


# --------------------------------------------------------------------------- the reasons chosen


COLUMNS = ["age_years", "agencies_90d", "police_events_90d", "police_trend_90d", "police_events_365d",
           "housing_rent_arrears_365d", "housing_rent_arrears_90d"]


def _bundle() -> SimpleNamespace:
    """A logistic model where every count raises the score (the trend most) and age lowers it; the typical
    person is 40 years old with nothing recorded."""
    model = LogisticRegression()
    model.classes_, model.n_features_in_ = np.array([0, 1]), len(COLUMNS)
    model.coef_ = np.array([[-0.05, 0.6, 0.6, 0.9, 0.3, 0.6, 0.6]])
    model.intercept_ = np.array([-4.0 + 0.05 * 40])
    reference = np.zeros(len(COLUMNS), dtype=np.float32)
    reference[0] = 40
    return SimpleNamespace(model=model, feature_columns=tuple(COLUMNS), reference=reference)  # as a ModelBundle


def _rows(values: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{c: float(v.get(c, 0)) for c in COLUMNS} | {"person_id": f"p{i}"}
                         for i, v in enumerate(values)])


def test_a_reason_shared_by_everyone_explained_says_nothing_and_age_is_no_reason():
    bundle = _bundle()
    people = [{"age_years": 24, "agencies_90d": 2, "police_events_90d": 1 + (i % 3)} for i in range(MIN_PEERS + 2)]
    people[0] |= {"housing_rent_arrears_365d": 2, "housing_rent_arrears_90d": 2}
    out = reasons(bundle, _rows(people))
    assert not any("agencies" in r for r in out), out  # everyone shown has 2 agencies in 90 days
    assert not any("aged" in r for r in out), out
    assert "2 rent arrears records in 12 months (typical: none)" in out[0]
    assert out[0].count("rent arrears") == 1  # one window per thing counted
    assert all(len(r.split("; ")) <= REASONS_PER_PERSON for r in out)
    # the same person explained alone (too few peers to tell what is shared) keeps the agencies
    alone = reasons(bundle, _rows(people[:1]))
    assert "2 agencies involved in 90 days (typical: none)" in alone[0]
    assert not any("aged" in r for r in alone)


def test_a_trend_reason_is_not_repeated_as_a_count_and_nothing_to_say_is_said_plainly():
    bundle = _bundle()
    person = {"age_years": 40, "police_trend_90d": 5, "police_events_90d": 6, "police_events_365d": 9}
    out = reasons(bundle, _rows([person]))[0].split("; ")
    assert sum("police contacts" in r for r in out) == 1, out  # the trend, the 90 days and the year: one thing counted
    person = {"age_years": 40, "police_trend_90d": 3, "police_events_90d": 2, "police_events_365d": 2}
    out = reasons(bundle, _rows([person]))[0].split("; ")  # none before the last 90 days: the trend leads
    assert out[0] == "2 police contacts in the last 90 days, none in the 9 months before", out
    assert sum("police contacts" in r for r in out) == 1, out
    assert subject("police_trend_90d") == subject("police_events_30d") == "police_events"
    assert reasons(bundle, _rows([{"age_years": 40}])) == [NO_REASON]
