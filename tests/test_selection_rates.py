"""Who gets listed: selection rates, Wilson intervals and the four-fifths flag, on people whose answer is known."""

from __future__ import annotations

import pandas as pd
import pytest

from stratify.measures.selection import flagged_groups, selection_rates, wilson_interval


def _people(spec: dict[tuple[str, str], tuple[int, int, int]]) -> tuple[pd.DataFrame, list[str]]:
    """(team, sex) -> (people, listed, in crisis): a frame and the listed pseudonyms."""
    rows, listed = [], []
    for (team, sex), (n, k, c) in spec.items():
        for i in range(n):
            pid = f"{team}-{sex}-{i:05d}"
            rows.append({"person_id": pid, "team": team, "sex": sex, "age_band": "25-44",
                         "ethnic_group": "W", "in_crisis": i < c})
            if i < k:
                listed.append(pid)
    return pd.DataFrame(rows), listed


def _entry(entries, team, kind, group):
    (e,) = [e for e in entries if e["team"] == team and e["group_kind"] == kind and e["group"] == group]
    return e


def test_rates_intervals_and_ratios_match_a_hand_count():
    people, listed = _people({("NT01", "F"): (1000, 50, 60), ("NT01", "M"): (1000, 20, 60),
                              ("NT02", "F"): (500, 25, 30), ("NT02", "M"): (500, 25, 30)})
    entries = selection_rates(people, listed, min_count=10)
    place_f = _entry(entries, None, "sex", "F")
    place_m = _entry(entries, None, "sex", "M")
    assert place_f["rate"] == pytest.approx(75 / 1500) and place_m["rate"] == pytest.approx(45 / 1500)
    assert place_m["ratio"] == pytest.approx(45 / 75) and place_f["ratio"] == 1.0
    assert (place_m["ci_low"], place_m["ci_high"]) == pytest.approx(wilson_interval(45, 1500))
    # NT01: men listed at 0.4 of women's rate, with the same need: flagged
    m1 = _entry(entries, "NT01", "sex", "M")
    assert m1["flagged"] and m1["crisis_ratio"] == pytest.approx(1.0)
    assert m1["listed_per_crisis"] == pytest.approx((20 / 1000) / (60 / 1000))
    # NT02: equal rates: not flagged
    assert not _entry(entries, "NT02", "sex", "M")["flagged"]
    assert any("team NT01" in line for line in flagged_groups(entries))


def test_a_ratio_outside_four_fifths_is_not_flagged_when_the_interval_includes_parity():
    people, listed = _people({("NT01", "F"): (40, 12, 12), ("NT01", "M"): (40, 10, 12)})
    entries = selection_rates(people, listed[:12] + listed[12:21], min_count=5)
    m = _entry(entries, "NT01", "sex", "M")
    assert m["ratio"] < 0.8 and m["ci_low"] <= 12 / 40 <= m["ci_high"]
    assert not m["flagged"]


def test_small_groups_keep_their_row_but_withhold_their_figures():
    people, listed = _people({("NT01", "F"): (2000, 60, 60), ("NT01", "X"): (4, 1, 1)})
    entries = selection_rates(people, listed, min_count=10)
    x = _entry(entries, "NT01", "sex", "X")
    assert x["suppressed"] and x["rate"] is None and x["people"] is None and x["listed"] is None
    assert not x["flagged"]


def test_every_group_kind_is_reported_for_the_place_and_each_team():
    people, listed = _people({("NT01", "F"): (100, 10, 10), ("NT02", "M"): (100, 10, 10)})
    entries = selection_rates(people, listed, min_count=10)
    kinds = {(e["team"], e["group_kind"]) for e in entries}
    assert kinds == {(t, k) for t in (None, "NT01", "NT02") for k in ("sex", "age_band", "ethnic_group")}


def test_a_small_group_never_sets_the_reference_rate():
    people, listed = _people({("NT01", "F"): (2000, 60, 60), ("NT01", "M"): (2000, 60, 60), ("NT01", "X"): (3, 2, 2)})
    entries = selection_rates(people, listed, min_count=10)
    for sex in ("F", "M"):
        e = _entry(entries, "NT01", "sex", sex)
        assert e["ratio"] == pytest.approx(1.0) and not e["flagged"]


def test_the_reference_is_the_largest_group_so_a_group_listed_too_much_is_flagged_too():
    # F is the largest group; M is listed at three times its rate for the same need: ratio 3, above 1.25
    people, listed = _people({("NT01", "F"): (3000, 60, 90), ("NT01", "M"): (1000, 60, 30)})
    entries = selection_rates(people, listed, min_count=10)
    f, m = _entry(entries, "NT01", "sex", "F"), _entry(entries, "NT01", "sex", "M")
    assert f["reference_group"] == m["reference_group"] == "F" and f["ratio"] == 1.0
    assert m["ratio"] == pytest.approx(3.0) and m["flagged"] and not f["flagged"]
    assert m["crisis_ratio"] == pytest.approx(1.0)  # the same need: the flag is about the listing
    assert "largest group (F)" in flagged_groups(entries)[0]


def test_a_small_crisis_count_withholds_the_crisis_figures_only():
    people, listed = _people({("NT01", "F"): (2000, 60, 60), ("NT01", "M"): (1500, 40, 4)})
    m = _entry(selection_rates(people, listed, min_count=10), "NT01", "sex", "M")
    assert not m["suppressed"] and m["rate"] == pytest.approx(40 / 1500) and m["listed"] == 40
    assert m["crisis_rate"] is None and m["crisis_ratio"] is None and m["listed_per_crisis"] is None
