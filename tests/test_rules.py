"""Crisis rules: transparent, checked against the features, and monotone."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratify.config import DEFAULT_RULES, ConfigError, CrisisRule
from stratify.rules import crisis_flags, evaluate_rules

FEATURES = ["smd_domains_365d", "health_ae_attendance_90d", "police_events_90d", "smd_homelessness_events_90d"]


def frame(rows):
    df = pd.DataFrame(rows, columns=FEATURES)
    df.insert(0, "person_id", [f"{i:064x}" for i in range(len(df))])
    df["smd_domain_names_365d"] = "homelessness, mental ill health, offending"
    return df


def test_reasons_quote_the_evidence():
    out = evaluate_rules(frame([[3, 5, 0, 0], [0, 0, 0, 0], [0, 0, 7, 4]]), DEFAULT_RULES)
    assert out["in_crisis"].tolist() == [True, False, True]
    assert out.loc[0, "crisis_rules"] == "smd_3plus; high_intensity_ae"
    assert out.loc[0, "crisis_reasons"] == (
        "3 disadvantage domains active in 12 months (homelessness, mental ill health, offending); "
        "5 A&E attendances in 90 days"
    )
    assert out.loc[2, "crisis_reasons"] == "7 police contacts in 90 days; 4 homelessness events in 90 days"
    assert out.loc[1, "crisis_reasons"] == ""


def test_a_rule_on_an_unknown_feature_is_refused():
    rule = CrisisRule("x", "x", "no_such_feature", ">=", 1, "{no_such_feature}")
    with pytest.raises(ConfigError, match="no_such_feature"):
        evaluate_rules(frame([[0, 0, 0, 0]]), (rule,))


counts = st.lists(st.tuples(*[st.integers(0, 20)] * 4), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(counts, st.integers(0, 3), st.integers(1, 5))
def test_more_contacts_never_take_a_person_out_of_crisis(rows, col, extra):
    df = frame(rows)
    before = crisis_flags(df, DEFAULT_RULES)
    more = df.copy()
    more[FEATURES[col]] += extra
    after = crisis_flags(more, DEFAULT_RULES)
    assert not np.any(before & ~after)


@settings(max_examples=200, deadline=None)
@given(counts)
def test_crisis_is_the_union_of_the_rules(rows):
    df = frame(rows)
    union = np.zeros(len(df), dtype=bool)
    for rule in DEFAULT_RULES:
        union |= crisis_flags(df, (rule,))
    assert np.array_equal(union, crisis_flags(df, DEFAULT_RULES))
    assert np.array_equal(evaluate_rules(df, DEFAULT_RULES)["in_crisis"].to_numpy(), union)
