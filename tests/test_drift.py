"""Drift's parts on hand-made inputs, how the pages word the measure stage's figures, and the margin's config key."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from stratify.config import ConfigError, SuppressionConfig, parse_config
from stratify.measures.drift import _shown_bands, labelled_dates, model_drift, outside_training_range
from stratify.publish.measures_section import drift_lines, measures_context
from stratify.resources import DDL_DIR
from stratify.warehouse.sql import read_sql

SUP = SuppressionConfig(min_count=10, round_to=5)
BASE = {"place": "x", "landing": "l", "warehouse": "w.duckdb", "out": "o", "neighbourhoods": "/no/such.csv"}


def test_the_latest_labelled_period_is_one_horizon_back_with_its_label_read_monthly_to_the_as_of_date():
    assert labelled_dates(date(2026, 11, 20), 6) == [date(2026, 5, 20), date(2026, 6, 20), date(2026, 7, 20),
                                                     date(2026, 8, 20), date(2026, 9, 20), date(2026, 10, 20),
                                                     date(2026, 11, 20)]
    assert labelled_dates(date(2026, 8, 31), 6)[0] == date(2026, 2, 28)  # the end of a shorter month


def test_calibration_bands_withhold_small_counts_and_the_share_they_give_away():
    bands = [{"low": 0.0, "high": 0.05, "people": 5000, "crises": 40, "mean_score": 0.01},
             {"low": 0.05, "high": 0.1, "people": 30, "crises": 3, "mean_score": 0.07},
             {"low": 0.1, "high": 0.2, "people": 4, "crises": 1, "mean_score": 0.15},
             {"low": 0.2, "high": 0.3, "people": 0, "crises": 0, "mean_score": None}]
    shown = _shown_bands(bands, 10)
    assert shown[0]["observed_share"] == pytest.approx(40 / 5000) and shown[0]["crises"] == 40
    assert shown[1]["people"] == 30 and shown[1]["crises"] is None and shown[1]["observed_share"] is None
    assert shown[2]["people"] is None and shown[2]["mean_score"] is None
    assert shown[3]["people"] == 0


def test_the_share_outside_the_training_range_counts_people_with_any_feature_outside_it():
    con = duckdb.connect()
    con.execute("CREATE TABLE feat_person AS SELECT * FROM (VALUES (1, 0.0), (5, 0.0), (12, 0.0), (3, 9.0)) t(a, b)")
    got = outside_training_range(con, {"columns": ["a", "b", "gone"], "low": [0, 0, 0], "high": [10, 1, 1]})
    assert got["people"] == 4 and got["share_outside_training_range"] == pytest.approx(0.5)
    assert got["features_most_outside"] == [{"feature": "a", "share": 0.25}, {"feature": "b", "share": 0.25}]


def test_a_promoted_model_whose_file_cannot_be_read_still_gets_its_range_share_and_says_why_not_the_rest():
    con = duckdb.connect()
    con.execute(read_sql(DDL_DIR / "001_audit.sql"))
    con.execute("CREATE TABLE feat_person AS SELECT 3 AS a")
    metrics = {"test_snapshot": "2026-05-20", "calibrated": {"brier": 0.01, "precision_at_capacity": 0.4},
               "feature_ranges": {"columns": ["a"], "low": [0], "high": [1]}}
    con.execute("INSERT INTO models (model_version, trained_at, as_of, data_from, data_to, horizon_months, algorithm, "
                "path, metrics_json, promoted) VALUES ('v1', now(), '2026-11-20', '2024-11-20', '2026-11-20', 6, "
                "'hist', '/no/file', $1, true)", [json.dumps(metrics)])
    drift = model_drift(con, _cfg(), date(2026, 11, 20), None)
    assert drift["at_training"] == {"period": "2026-05-20", "brier": 0.01, "precision_at_capacity": 0.4}
    assert "could not be read" in drift["tonight"]["note"] and drift["share_outside_training_range"] == 1.0
    lines = drift_lines(drift, SUP)
    assert not lines["measured"] and "could not be read" in lines["now_note"] and lines["then_precision"] == "40%"


def _cfg():
    return parse_config(BASE, Path("/tmp/place.yaml"))


def test_the_pages_round_counts_withhold_small_ones_and_mark_only_judged_shortfalls():
    summary = {
        "past_lists": [
            {"team": "NT01", "month": "2026-05-01", "wobbling": 23, "realised_precision": 0.0,
             "promised_precision": 0.12, "crisis_still_in_crisis_share": None, "fewest_nights_observed": 1,
             "short": True},
            {"team": "NT02", "month": "2026-05-01", "wobbling": None, "realised_precision": None,
             "promised_precision": None, "crisis_still_in_crisis_share": None, "fewest_nights_observed": 1,
             "short": False},
        ],
        "precision_margin": 0.05, "horizon_months": 6, "retrain_flagged": True,
        "precision_shortfalls": ["team NT01, lists of 2026-05: 0% ..."],
        "drift": {"model_version": "v1", "at_training": {"period": "2025-11-20", "brier": 0.002,
                                                         "precision_at_capacity": 0.2},
                  "tonight": {"period": "2026-05-20", "labels_to": "2026-11-20", "rows": 1234, "brier": 0.0031,
                              "precision_at_capacity": 0.15,
                              "score_bands": [{"low": 0.0, "high": 0.05, "people": 1200, "crises": 20,
                                               "mean_score": 0.01, "observed_share": 20 / 1200},
                                              {"low": 0.05, "high": 0.1, "people": None, "crises": None,
                                               "mean_score": None, "observed_share": None}]},
                  "share_outside_training_range": 0.02, "features_most_outside": []},
    }
    ctx = measures_context(summary, SUP)
    nt01, nt02 = ctx["past_lists"]
    assert nt01["wobbling"] == "25" and nt01["realised"] == "0%" and nt01["promised"] == "12%" and nt01["short"]
    assert nt02["wobbling"] == "withheld" and nt02["realised"] == "withheld" and not nt02["short"]
    assert ctx["margin"] == "5%" and ctx["horizon"] == "six months" and ctx["retrain_flagged"]
    d = ctx["drift"]
    assert d["measured"] and d["now_brier"] == "0.0031" and d["now_precision"] == "15%" and d["now_rows"] == "1235"
    assert [b["people"] for b in d["bands"]] == ["1200", "withheld"]


def test_the_precision_margin_is_a_typed_checked_key():
    assert _cfg().measures.precision_margin == 0.10
    assert parse_config({**BASE, "measures": {"precision_margin": 0.2}}, Path("/tmp/p.yaml")).measures.precision_margin == 0.2
    for bad, said in (({"precision_margin": 0}, "must be above 0"), ({"precision_margin": "0.1"}, "expected float"),
                      ({"precision_margin": 1.5}, "at most 1"), ({"margin": 0.1}, "unknown key")):
        with pytest.raises(ConfigError) as err:
            parse_config({**BASE, "measures": bad}, Path("/tmp/p.yaml"))
        assert any(p.startswith("measures") and said in p for p in err.value.problems), err.value.problems


def test_the_latest_labelled_period_is_re_measured_at_most_every_drift_every_days(monkeypatch):
    """The nights between two re-measurements report the last one (and its date); a new model is measured at once."""
    import stratify.measures.drift as drift_module

    con = duckdb.connect()
    con.execute(read_sql(DDL_DIR / "013_drift_measures.sql"))
    calls = []

    def measure(con, cfg, as_of, bundle):
        calls.append(as_of)
        return {"period": str(as_of), "brier": 0.1 + len(calls) / 100}

    monkeypatch.setattr(drift_module, "latest_labelled_period", measure)
    cfg = _cfg()
    assert cfg.measures.drift_every_days == 7
    first = drift_module._measured(con, cfg, date(2026, 11, 20), object(), "v1")
    again = drift_module._measured(con, cfg, date(2026, 11, 26), object(), "v1")
    assert calls == [date(2026, 11, 20)]
    assert again == first == {"period": "2026-11-20", "brier": 0.11, "measured_on": "2026-11-20"}
    week = drift_module._measured(con, cfg, date(2026, 11, 27), object(), "v1")
    assert week["measured_on"] == "2026-11-27" and calls[-1] == date(2026, 11, 27)
    new_model = drift_module._measured(con, cfg, date(2026, 11, 28), object(), "v2")
    assert new_model["measured_on"] == "2026-11-28" and len(calls) == 3
    for bad in (0, 400, "7"):
        with pytest.raises(ConfigError):
            parse_config({**BASE, "measures": {"drift_every_days": bad}}, Path("/tmp/p.yaml"))
