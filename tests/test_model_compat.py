"""A saved model's package versions: recorded at training, checked once before a night."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
import sklearn

from helpers import write_place
from stratify.model import compat
from stratify.model.compat import VersionMismatch, check_versions, compare, record_versions, recorded_versions

RUNNING = {"scikit-learn": "1.9.1", "numpy": "2.4.6", "scipy": "1.17.1", "joblib": "1.6.0",
           "sqlalchemy": "2.1.9", "openpyxl": "3.1.5", "great-expectations": "1.24.1",
           "duckdb-engine": "0.17.0", "duckdb": "2.0.0"}


def test_running_versions_are_the_installed_ones():
    found = compat.running_versions()
    assert found["scikit-learn"] == sklearn.__version__
    assert set(found) <= set(compat.RECORDED_PACKAGES)
    assert {"duckdb", "openpyxl", "great-expectations", "duckdb-engine", "sqlalchemy"} <= set(found)


def test_the_same_versions_pass_without_differences():
    assert check_versions(dict(RUNNING), dict(RUNNING)) == []


def test_a_patch_upgrade_of_a_hooked_library_is_allowed():
    saved = {**RUNNING, "duckdb": "2.0.0", "openpyxl": "3.1.4"}
    running = {**RUNNING, "duckdb": "2.0.1", "openpyxl": "3.1.5"}
    diffs = check_versions(saved, running)
    assert [(d.package, d.level, d.allowed) for d in diffs] == [("duckdb", "patch", True), ("openpyxl", "patch", True)]


def test_a_patch_upgrade_of_scikit_learn_is_refused_with_the_action():
    with pytest.raises(VersionMismatch) as err:
        check_versions({**RUNNING, "scikit-learn": "1.9.0"}, RUNNING, what="the promoted model v1")
    assert "scikit-learn 1.9.0 -> 1.9.1 (patch)" in str(err.value)
    assert "pip install scikit-learn==1.9.0" in err.value.action and "stratify train" in err.value.action
    assert [d.package for d in err.value.differences] == ["scikit-learn"]


def test_a_minor_upgrade_of_any_recorded_package_is_refused():
    with pytest.raises(VersionMismatch, match=r"duckdb 2\.0\.0 -> 2\.1\.0 \(minor\)"):
        check_versions(RUNNING, {**RUNNING, "duckdb": "2.1.0"})
    with pytest.raises(VersionMismatch, match=r"great-expectations 1\.24\.1 -> 2\.0\.0 \(major\)"):
        check_versions(RUNNING, {**RUNNING, "great-expectations": "2.0.0"})


def test_a_package_no_longer_installed_is_refused():
    running = {k: v for k, v in RUNNING.items() if k != "openpyxl"}
    with pytest.raises(VersionMismatch, match="openpyxl 3.1.5 -> not installed"):
        check_versions(RUNNING, running)


def test_compare_ignores_packages_it_does_not_record():
    assert compare(RUNNING, {**RUNNING, "requests": "2.0"}) == []


def test_versions_are_recorded_beside_the_model_and_read_back(tmp_path):
    model = tmp_path / "wobbling-20261120-his-abcd1234.joblib"
    written = record_versions(model, RUNNING)
    assert written == tmp_path / "wobbling-20261120-his-abcd1234.versions.json"
    assert recorded_versions(model) == RUNNING
    assert recorded_versions(tmp_path / "older.joblib") is None
    written.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(VersionMismatch, match="not a mapping"):
        recorded_versions(model)


def _promote(cfg, model_path) -> None:
    from stratify.warehouse.database import connect

    with connect(cfg) as con:
        con.execute("INSERT INTO models (model_version, trained_at, as_of, data_from, data_to, "
                    "horizon_months, algorithm, path, metrics_json, promoted) VALUES ('v-old', $1, DATE '2026-01-01', DATE '2025-01-01', DATE '2025-12-01', "
                    "6, 'hist', $2, '{}', true)", [datetime.now(UTC), str(model_path)])


def test_a_night_with_a_model_this_install_cannot_use_stops_before_the_first_stage(tmp_path):
    from stratify.run.pipeline import run_pipeline

    cfg = write_place(tmp_path)
    model = cfg.models / "wobbling-v-old.joblib"
    model.parent.mkdir(parents=True)
    record_versions(model, {**compat.running_versions(), "scikit-learn": "0.24.2"})
    _promote(cfg, model)
    with pytest.raises(VersionMismatch, match="scikit-learn 0.24.2 -> "):
        run_pipeline(cfg, date(2026, 11, 20))
    status = json.loads((cfg.out / "status.json").read_text(encoding="utf-8"))
    assert status["status"] == "failed" and status["stage"] == "start"
    assert "scikit-learn" in status["message"]
    assert not (tmp_path / "landing").exists() or not any((tmp_path / "landing").iterdir())
    from stratify.warehouse.database import connect, fetch_one

    with connect(cfg) as con:
        assert fetch_one(con, "SELECT count(*) FROM deliveries")[0] == 0  # discover never ran


def test_a_night_whose_model_matches_goes_past_the_check(tmp_path):
    cfg = write_place(tmp_path)
    model = cfg.models / "wobbling-v-old.joblib"
    model.parent.mkdir(parents=True)
    record_versions(model)
    _promote(cfg, model)
    assert compat.check_promoted_model(cfg) == []
