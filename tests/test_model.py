"""The wobbling model: temporal split, evaluation, promotion, reasons, and refusing unusable models."""

from datetime import date
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from helpers import write_place
from stratify.model.evaluation import HeldOut, capacity_metrics, fairness, selected_at_capacity
from stratify.model.registry import ModelError, load_promoted, read_bundle
from stratify.model.train import Split, promotion_decision, snapshot_dates, train_model
from stratify.run.pipeline import run_pipeline
from stratify.synth.generate import synthesize

AS_OF = date(2026, 11, 20)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small synthetic place, loaded and scored once (the run trains the first model)."""
    folder = tmp_path_factory.mktemp("model")
    cfg = write_place(folder, extra="model:\n  max_training_people: 1500\n")
    synthesize(cfg, people=1500, as_of=AS_OF, seed=7)
    result = run_pipeline(cfg, AS_OF)
    assert result["status"] == "published", result
    return cfg


def test_split_keeps_a_horizon_between_training_labels_and_test():
    split = Split.for_history(25, 6)
    assert (split.fit, split.calib, split.test) == (range(0, 12), 12, 18)
    assert split.calib + 6 == split.test  # calibration labels end where the test period starts
    with pytest.raises(ModelError, match="not enough history"):
        Split.for_history(12, 6)
    assert snapshot_dates(AS_OF, 2) == [date(2026, 9, 20), date(2026, 10, 20), date(2026, 11, 20)]


def test_first_run_trains_registers_and_promotes_a_model_with_a_card(trained):
    bundle = load_promoted(trained)
    assert bundle is not None and bundle.promotion["promote"]
    m = bundle.metrics
    assert set(m["candidates"]) == {"logistic_regression", "hist_gradient_boosting"}
    assert 0.5 < m["calibrated"]["auroc"] <= 1
    assert 0 <= m["calibrated"]["precision_at_capacity"] <= 1
    assert set(m["fairness"]) == {"sex", "age_band", "ethnic_group", "largest_gap"}
    card = (trained.models / f"wobbling-{bundle.model_version}.html").read_text(encoding="utf-8")
    assert "Algorithmic Transparency Recording Standard" in card and "data:image/png;base64," in card
    assert "http://" not in card and "https://" not in card
    assert "sha256" in card and "pickle" in card  # the card says how the model is saved and checked


def test_wobbling_people_on_lists_carry_readable_reasons(trained):
    lists = pd.concat(pd.read_csv(p, keep_default_na=False) for p in (trained.out / "latest" / "lists").glob("*.csv"))
    wobbling = lists[lists["tier"] == "wobbling"]
    assert len(wobbling) > 0
    assert wobbling["reasons"].str.len().gt(10).all()
    assert not wobbling["reasons"].str.contains("_").any(), "reasons must be plain English, not column names"


def test_retraining_on_the_same_data_gives_the_same_model_and_keeps_it_promoted(trained):
    promoted = load_promoted(trained)
    result = train_model(trained, AS_OF)
    assert result["model_version"] == promoted.model_version  # same data, same code: the same model
    assert result["promoted"] is True and result["why"] == "already registered"
    assert load_promoted(trained).model_version == promoted.model_version
    import duckdb

    con = duckdb.connect(str(trained.warehouse), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM models WHERE promoted").fetchall() == [(1,)]
    finally:
        con.close()


def test_a_new_model_is_promoted_only_if_not_worse_at_capacity_than_the_current_one(tmp_path):
    from types import SimpleNamespace

    cfg = write_place(tmp_path)  # capacity 5 per team
    teams = np.array(["NT01"] * 20)
    y = np.r_[np.ones(5, dtype=np.int8), np.zeros(15, dtype=np.int8)]
    groups = pd.DataFrame({"sex": ["F"] * 20, "age_band": ["25-44"] * 20, "ethnic_group": ["W"] * 20})
    test = HeldOut(y, teams, groups, np.arange(20))
    X = np.arange(20, dtype=np.float32).reshape(-1, 1)

    def current(scores):  # a promoted model that gives these scores on the held-out rows
        model = SimpleNamespace(predict_proba=lambda X_: np.c_[1 - scores, scores])
        return SimpleNamespace(model=model, feature_columns=("f",), model_version="old")

    fair = {"largest_gap": {"recall": 0.0, "false_positive_rate": 0.0}}
    perfect, half = np.r_[np.ones(5), np.zeros(15)], np.r_[np.ones(3), np.zeros(2), np.ones(2), np.zeros(13)]
    for new, old, promote in ((0.6, perfect, False), (0.6, half, True), (1.0, perfect, True)):
        metrics = {"fairness": fair, "calibrated": {"precision_at_capacity": new}}
        decision = promotion_decision(cfg, metrics, current(old), X, test, ["f"])
        assert decision["promote"] is promote, (new, decision)
        assert ("below the current model's" in decision["why"]) is (not promote)
    other = promotion_decision(cfg, {"fairness": fair, "calibrated": {"precision_at_capacity": 0.0}},
                               current(perfect), X, test, ["g"])
    assert other["promote"] and "other features" in other["why"]


def test_promotion_is_refused_when_a_fairness_gap_is_too_wide(trained):
    metrics = {"fairness": {"largest_gap": {"recall": 0.9, "false_positive_rate": 0.0}},
               "calibrated": {"precision_at_capacity": 1.0}}
    decision = promotion_decision(trained, metrics, None, np.zeros((0, 1)), None, [])
    assert not decision["promote"] and "recall 0.90" in decision["why"]


def test_an_unusable_model_file_is_refused_with_what_to_do(tmp_path):
    import hashlib

    path = tmp_path / "m.joblib"
    with pytest.raises(ModelError, match="missing.*stratify train"):
        read_bundle("v1", path, "0" * 64)
    joblib.dump({"format": 1, "sklearn_version": "0.1"}, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ModelError, match="scikit-learn 0.1.*stratify train"):
        read_bundle("v1", path, digest)
    with pytest.raises(ModelError, match="without a sha256 digest.*not loaded.*stratify train"):
        read_bundle("v1", path, None)
    path.write_bytes(b"not a pickle")
    with pytest.raises(ModelError, match="cannot be read"):
        read_bundle("v1", path, hashlib.sha256(b"not a pickle").hexdigest())


def test_capacity_selection_and_fairness_on_a_known_case(tmp_path):
    cfg = write_place(tmp_path)  # capacity 5 per team
    teams = np.array(["A"] * 10 + ["B"] * 10)
    score = np.r_[np.linspace(1, 0.1, 10), np.linspace(1, 0.1, 10)]
    chosen = selected_at_capacity(score, teams, cfg)
    assert chosen.sum() == 10 and chosen[:5].all() and not chosen[5:10].any()
    y = np.r_[[1, 1, 0, 0, 0, 1, 0, 0, 0, 0], [0] * 10]
    m = capacity_metrics(y, chosen, teams)
    assert m["by_team"]["A"] == {"precision": 0.4, "recall": 2 / 3}
    assert m["precision_at_capacity"] == pytest.approx(0.2)
    groups = pd.DataFrame({"sex": ["F"] * 20, "age_band": ["25-44"] * 20, "ethnic_group": ["W"] * 20})
    f = fairness(HeldOut(y, teams, groups, np.arange(20)), score, cfg)
    assert f["sex"]["by_group"]["F"]["recall"] == pytest.approx(2 / 3)
    assert f["largest_gap"] == {"recall": 0.0, "false_positive_rate": 0.0}


def test_without_a_promoted_model_only_the_crisis_tier_is_scored(tmp_path):
    from stratify.score import score_frame

    cfg = write_place(tmp_path)
    df = pd.DataFrame({
        "person_id": ["a" * 64, "b" * 64], "team": ["NT01", "NT01"], "in_crisis": [True, False],
        "crisis_rules": ["smd_3plus", ""], "crisis_reasons": ["3 disadvantage domains", ""],
        "police_events_90d": [4, 9], "smd_domains_365d": [3, 1],
    })
    out = score_frame(cfg, df, None)
    assert out["tier"].tolist() == ["crisis", ""]
    assert out["score"].tolist() == [1.0, 0.0]
    assert out["reasons"].tolist() == ["3 disadvantage domains", ""]


def test_a_place_with_too_little_history_publishes_the_crisis_tier_with_a_warning(tmp_path):
    cfg = write_place(tmp_path, extra="model:\n  history_months: 6\n")  # fewer snapshots than 2 horizons + 2
    synthesize(cfg, people=400, as_of=AS_OF, seed=2)
    result = run_pipeline(cfg, AS_OF)
    assert result["status"] == "published"
    warning = result["stages"]["score"]["warning"]
    assert "not enough history" in warning and "crisis tier only" in warning
    lists = pd.concat(pd.read_csv(p, keep_default_na=False) for p in (cfg.out / "latest" / "lists").glob("*.csv"))
    assert set(lists["tier"]) <= {"crisis"}


def test_fitting_keeps_every_crisis_row_and_a_weighted_share_of_the_others():
    from stratify.model.train import sample_negatives

    y = np.r_[np.ones(50, dtype=np.int8), np.zeros(400_000, dtype=np.int8)]
    X = np.arange(len(y), dtype=np.float32).reshape(-1, 1)
    Xs, ys, w = sample_negatives(X, y, 0.25, seed=0)
    assert ys.sum() == 50 and set(Xs[ys == 1, 0]) == set(range(50))
    assert 0.24 < (ys == 0).sum() / 400_000 < 0.26
    assert np.allclose(w[ys == 1], 1) and np.allclose(w[ys == 0], 4)
    assert w.sum() == pytest.approx(len(y), rel=0.05)  # the weights keep the base rate
    again = sample_negatives(X, y, 0.25, seed=0)
    assert np.array_equal(again[0], Xs)
    assert sample_negatives(X, y, 1.0, seed=0)[0] is X
    small = np.r_[np.ones(5, dtype=np.int8), np.zeros(1_000, dtype=np.int8)]
    assert sample_negatives(X[:1005], small, 0.25, seed=0)[0] is not None
    assert len(sample_negatives(X[:1005], small, 0.25, seed=0)[1]) == 1005  # a small place fits on every row


def test_a_large_place_fits_on_a_bounded_number_of_rows_that_did_not_enter_crisis():
    from stratify.model.train import MAX_FIT_NEGATIVES, sample_negatives

    y = np.r_[np.ones(20, dtype=np.int8), np.zeros(3 * MAX_FIT_NEGATIVES, dtype=np.int8)]
    X = np.zeros((len(y), 1), dtype=np.float32)
    _, ys, w = sample_negatives(X, y, 0.5, seed=0)
    assert ys.sum() == 20
    assert 0.97 * MAX_FIT_NEGATIVES < (ys == 0).sum() < 1.03 * MAX_FIT_NEGATIVES
    assert w.sum() == pytest.approx(len(y), rel=0.02)  # weighted back to the whole place


def test_training_sample_takes_whole_households_up_to_the_cap():
    import duckdb

    from stratify.warehouse.database import SQL_DIR, run_sql_file

    con = duckdb.connect()
    # 300 households of 2 or 3 people, and 100 people with no household
    con.execute("CREATE TABLE persons AS SELECT 'p' || i AS person_id, "
                "CASE WHEN i < 750 THEN 'h' || (i % 300) END AS household_id FROM range(850) AS t(i)")
    run_sql_file(con, SQL_DIR / "model_train_persons.sql", {"seed": "0", "n": 400})
    rows = con.execute("SELECT person_id, household_id FROM train_persons").fetchall()
    assert 380 <= len(rows) <= 400
    sampled = {h for _, h in rows if h is not None}
    sizes = dict(con.execute("SELECT household_id, count(*) FROM persons GROUP BY ALL").fetchall())
    assert sum(sizes[h] for h in sampled) + sum(h is None for _, h in rows) == len(rows)  # nobody without housemates
    assert 0 < sum(h is None for _, h in rows) < 100
    run_sql_file(con, SQL_DIR / "model_train_persons.sql", {"seed": "0", "n": 400})
    assert sorted(con.execute("SELECT person_id FROM train_persons").fetchall()) == sorted((p,) for p, _ in rows)
    run_sql_file(con, SQL_DIR / "model_train_persons.sql", {"seed": "0", "n": 10_000})
    assert con.execute("SELECT count(*) FROM train_persons").fetchall() == [(850,)]


def test_a_candidate_within_sampling_error_at_capacity_is_chosen_on_average_precision():
    from stratify.model.train import choose_candidate

    def m(pc, ap):
        return {"precision_at_capacity": pc, "average_precision": ap}

    near = {"logistic_regression": m(0.687, 0.51), "hist_gradient_boosting": m(0.680, 0.54)}
    assert choose_candidate(near, selected=150) == "hist_gradient_boosting"  # 0.007 apart; se about 0.04
    far = {"logistic_regression": m(0.80, 0.51), "hist_gradient_boosting": m(0.60, 0.54)}
    assert choose_candidate(far, selected=150) == "logistic_regression"
    assert choose_candidate(near, selected=1_000_000) == "logistic_regression"  # a big snapshot: any gap counts
    assert choose_candidate({"only": m(0.0, 0.0)}, selected=0) == "only"


def test_fit_negative_share_must_be_a_share(tmp_path):
    from stratify.config import ConfigError

    with pytest.raises(ConfigError, match="model.fit_negative_share"):
        write_place(tmp_path, extra="model:\n  fit_negative_share: 0\n")


def _feature_rows(cfg) -> pd.DataFrame:
    import duckdb

    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        return con.execute("SELECT f.*, c.in_crisis, c.crisis_rules, c.crisis_reasons FROM feat_person AS f "
                           "JOIN crisis AS c USING (person_id) WHERE NOT f.died AND f.team IS NOT NULL "
                           "ORDER BY f.person_id").df()
    finally:
        con.close()


def test_scores_in_blocks_and_threads_equal_one_prediction_of_everyone(trained, monkeypatch):
    import stratify.model.predict as predict

    bundle = load_promoted(trained)
    X = _feature_rows(trained)[list(bundle.feature_columns)].to_numpy(dtype=np.float32)
    whole = bundle.model.predict_proba(X)[:, 1]
    assert predict.split_thresholds(bundle.model), "the promoted model's trees should be read"
    monkeypatch.setattr(predict, "PREDICT_ROWS", 97)  # many blocks, the last one short
    for workers in (1, 2):
        assert np.array_equal(predict.predict_scores(bundle.model, X, workers=workers), whole)
        assert np.array_equal(predict.predict_rows(bundle.model, X, workers=workers), whole)
    assert predict.predict_scores(bundle.model, X[:0]).shape == (0,)


def test_the_scores_table_is_the_model_on_every_listable_person(trained):
    import duckdb

    bundle = load_promoted(trained)
    rows = _feature_rows(trained)
    prob = bundle.model.predict_proba(rows[list(bundle.feature_columns)].to_numpy(dtype=np.float32))[:, 1]
    con = duckdb.connect(str(trained.warehouse), read_only=True)
    try:
        scores = con.execute("SELECT * FROM scores ORDER BY person_id").df()
    finally:
        con.close()
    assert scores["person_id"].tolist() == rows["person_id"].tolist()
    crisis = rows["in_crisis"].to_numpy(dtype=bool)
    assert np.array_equal(scores["score"].to_numpy(), np.where(crisis, 1.0, prob).round(4))
    rule_count = rows["crisis_rules"].str.count(";") + (rows["crisis_rules"] != "")
    contacts = rows[["health_events_90d", "social_care_events_90d", "housing_events_90d", "police_events_90d"]].sum(axis=1)
    assert scores["severity"].tolist() == (rule_count * 1_000_000 + contacts * 10 + rows["smd_domains_365d"]).tolist()
    wobbling = scores[scores["tier"] == "wobbling"]
    assert len(wobbling) and (wobbling["score"] >= trained.model.min_wobbling_score).all()
    assert (wobbling["reasons"].fillna("") == "").all(), "scoring only scores: the rank stage explains"
    crisis = scores[scores["tier"] == "crisis"].set_index("person_id")
    assert (crisis["reasons"] == rows.set_index("person_id").loc[crisis.index, "crisis_reasons"]).all()


def _contributions_by_occluding_every_feature(bundle, rows: pd.DataFrame) -> np.ndarray:
    """`explain`'s contributions as first written: every feature of every person set to the median and predicted."""
    cols = list(bundle.feature_columns)
    X = rows[cols].to_numpy(dtype=np.float32)
    n, k = X.shape
    base = bundle.model.predict_proba(X)[:, 1]
    occluded = np.repeat(X, k, axis=0)
    idx = np.arange(n * k)
    occluded[idx, idx % k] = np.tile(bundle.reference, n)
    return (base.repeat(k) - bundle.model.predict_proba(occluded)[:, 1]).reshape(n, k)


def test_reasons_skip_only_features_already_at_the_median(trained):
    from stratify.model.contributions import NO_REASON, contributions
    from stratify.model.explain import explain

    bundle = load_promoted(trained)
    rows = _feature_rows(trained)
    prob = bundle.model.predict_proba(rows[list(bundle.feature_columns)].to_numpy(dtype=np.float32))[:, 1]
    rows = rows.iloc[np.argsort(-prob, kind="stable")[:60]].reset_index(drop=True)  # the riskiest: most signals
    X = rows[list(bundle.feature_columns)].to_numpy(dtype=np.float32)
    assert np.allclose(contributions(bundle, X), _contributions_by_occluding_every_feature(bundle, rows), atol=1e-9)
    assert any(r != NO_REASON for r in explain(bundle, rows))


def test_a_night_that_trains_records_its_training_seconds(trained):
    import json

    manifest = json.loads((trained.out / "latest" / "manifest.json").read_text(encoding="utf-8"))
    model = manifest["stages"]["model"]
    assert model["trained_now"] is True and model["training_s"] > 0


def _without_handoffs(reasons: str) -> str:
    from stratify.costs.list_columns import handoff_reason

    parts = reasons.split("; ")
    return "; ".join(p for p in parts if not (p.split(" ", 1)[0].isdigit()
                                              and p == handoff_reason(int(p.split(" ", 1)[0]))))


def test_the_rank_stage_explains_exactly_the_wobbling_people_it_lists(trained):
    import duckdb

    from stratify.model.explain import explain

    con = duckdb.connect(str(trained.warehouse), read_only=True)
    try:
        shown = con.execute("SELECT l.person_id, l.reasons FROM lists AS l WHERE l.tier = 'wobbling' "
                            "AND l.section <> 'dropped' ORDER BY l.person_id").df()
        crisis = con.execute("SELECT l.reasons, s.reasons AS rules FROM lists AS l JOIN scores AS s USING (person_id) "
                             "WHERE l.tier = 'crisis' AND l.section <> 'dropped'").df()
    finally:
        con.close()
    assert len(shown) and shown["person_id"].is_unique
    bundle = load_promoted(trained)
    rows = _feature_rows(trained).set_index("person_id").loc[shown["person_id"]].reset_index()
    # The rank stage appends the handoff reason (stratify.costs.list_columns.handoff_reason) after the model's
    # or the rules' own; without it, each is explained on their own row, nobody else.
    listed = [_without_handoffs(r) for r in shown["reasons"]]
    assert listed == explain(bundle, rows)
    assert [_without_handoffs(r) for r in crisis["reasons"]] == crisis["rules"].tolist() and len(crisis)
    manifest_stages = __import__("json").loads((trained.out / "latest" / "manifest.json").read_text())["stages"]
    assert manifest_stages["rank"]["explained"] == len(shown)


def test_publish_renders_the_lists_table_and_refuses_a_run_that_was_not_ranked(trained):
    import duckdb

    from stratify.lists.table import ListsNotRanked, load_lists
    from stratify.run.context import RunContext

    con = duckdb.connect(str(trained.warehouse), read_only=True)
    try:
        run_id = con.execute("SELECT DISTINCT run_id FROM lists").fetchall()
        listed = con.execute("SELECT team, rank, person_id, score FROM lists WHERE section = 'listed' "
                             "ORDER BY team, rank").df()
    finally:
        con.close()
    assert len(run_id) == 1
    published = pd.concat(pd.read_csv(p, dtype=str, keep_default_na=False).assign(team=p.stem)
                          for p in sorted((trained.out / "latest" / "lists").glob("*.csv")))
    assert published["person_id"].tolist() == listed["person_id"].tolist()
    assert published["score"].tolist() == [f"{s:.4f}" for s in listed["score"]]
    with pytest.raises(ListsNotRanked, match="rank stage has not run"):
        load_lists(trained, RunContext("20261120T000000000000Z", trained.place, AS_OF))


def test_train_before_any_night_stops_with_exit_2_and_says_to_run_first(tmp_path, capsys):
    from stratify.cli import main
    from stratify.warehouse.database import connect

    cfg = write_place(tmp_path)
    synthesize(cfg, people=300, as_of=AS_OF, seed=3)  # deliveries have landed; no night has loaded them
    assert main(["train", "--config", str(cfg.path), "--as-of", AS_OF.isoformat()]) == 2
    err = capsys.readouterr().err
    assert "stratify run" in err and "first" in err and "Catalog Error" not in err
    assert not cfg.warehouse.exists()  # asking does not create a warehouse
    with connect(cfg):
        pass  # a warehouse with its audit tables, but nobody linked
    assert main(["train", "--config", str(cfg.path), "--as-of", AS_OF.isoformat()]) == 2
    assert "no linked people yet" in capsys.readouterr().err


def test_a_fall_back_from_the_fast_scoring_path_is_counted_in_the_score_summary(trained, monkeypatch):
    import json

    import duckdb

    import stratify.model.predict as predict
    from stratify.run.context import RunContext
    from stratify.score import score_wobbling

    manifest = json.loads((trained.out / "latest" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["stages"]["model"]["scoring_path"] == "by_cell"
    assert manifest["stages"]["model"]["fast_path_fallbacks"] == 0

    def before(con):
        return con.execute("SELECT person_id, tier, score FROM scores ORDER BY person_id").fetchall()

    con = duckdb.connect(str(trained.warehouse), read_only=True)
    try:
        scored = before(con)
    finally:
        con.close()

    def changed(boosting):
        raise predict.FastPathUnavailable("scikit-learn 9.9: a fitted tree's nodes lack the fields num_threshold")

    monkeypatch.setattr(predict, "fitted_tree_nodes", changed)
    summary = score_wobbling(trained, RunContext("20261120T235959000000Z", trained.place, AS_OF))
    assert summary["scoring_path"] == "row_by_row" and summary["fast_path_fallbacks"] == 1
    assert "num_threshold" in summary["fast_path_fallback"]
    con = duckdb.connect(str(trained.warehouse), read_only=True)
    try:
        assert before(con) == scored  # the same scores, the slow way
    finally:
        con.close()


class _RunsCode:
    """A pickle that creates a file when it is loaded: what a local user could put in place of a model."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_replaced_model_file_is_refused_before_it_is_unpickled_and_its_code_never_runs(trained, tmp_path):
    import pickle

    import duckdb

    from stratify.run.status import read_status

    promoted = load_promoted(trained)
    con = duckdb.connect(str(trained.warehouse), read_only=True)
    try:
        path, digest = con.execute("SELECT path, sha256 FROM models WHERE promoted").fetchone()
    finally:
        con.close()
    path = Path(path)
    assert digest == __import__("hashlib").sha256(path.read_bytes()).hexdigest()  # recorded when registered
    marker = tmp_path / "the-attackers-code-ran"
    original = path.read_bytes()
    before = (trained.out / "latest").resolve()
    try:
        path.write_bytes(pickle.dumps(_RunsCode(marker)))
        pickle.loads(pickle.dumps(_RunsCode(tmp_path / "control")))
        assert (tmp_path / "control").exists()  # the pickle does run code when loaded
        with pytest.raises(ModelError, match="not the file that was registered"):
            run_pipeline(trained, AS_OF)  # the next night
        assert not marker.exists(), "the replaced model file was unpickled"
        status = read_status(trained)
        assert status["status"] == "failed" and status["stage"] == "score"
        assert str(path) in status["message"] and "stratify train" in status["action"]
        assert (trained.out / "latest").resolve() == before  # the last good lists stay published
    finally:
        path.write_bytes(original)
    assert load_promoted(trained).model_version == promoted.model_version  # the registered file is read again


def test_people_recorded_as_wrong_person_are_not_trained_on():
    from stratify.model.train import Snapshots, labelled

    people = np.array(["a", "b", "c"], dtype=object)
    s = Snapshots(dates=[AS_OF] * 3, person_ids=people, X=[np.eye(3, dtype=np.float32)] * 3,
                  crisis=[np.array([False, False, False]), np.array([True, False, True]), np.zeros(3, bool)],
                  teams=[np.array(["NT01"] * 3, dtype=object)] * 3,
                  groups=[pd.DataFrame({"sex": ["F"] * 3, "age_band": ["x"] * 3, "ethnic_group": ["W"] * 3})] * 3,
                  columns=["f1", "f2", "f3"])
    X, held = labelled(s, 0, 1)
    assert held.person_ids.tolist() == ["a", "b", "c"] and held.y.tolist() == [1, 0, 1]
    s.excluded = np.array([False, False, True])  # c: the records under that pseudonym are not one person
    X, held = labelled(s, 0, 1)
    assert held.person_ids.tolist() == ["a", "b"] and held.y.tolist() == [1, 0] and len(X) == 2


def test_the_monthly_airflow_train_task_fails_without_retries_before_any_night(tmp_path, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    import stratify.airflow.tasks as tasks

    cfg = write_place(tmp_path)
    context = {"params": {"config": str(cfg.path), "as_of": AS_OF.isoformat()}}
    monkeypatch.setattr(tasks, "current_context", lambda: context)
    with pytest.raises(AirflowFailException, match="stratify run"):  # retrying cannot help
        tasks.train_model_task()


def test_training_under_umask_000_leaves_the_models_folder_and_files_private(trained, tmp_path):
    """A model file is code: under `umask 000` the models folder, bundle, versions file and card stay private."""
    import os
    import shutil
    import stat

    from stratify.config import load_config

    shutil.copytree(trained.path.parent, tmp_path / "place", symlinks=True)
    cfg = load_config(tmp_path / "place" / "place.yaml")
    shutil.rmtree(cfg.models)
    from stratify.warehouse.database import connect

    with connect(cfg) as con:
        con.execute("DELETE FROM models")
    old = os.umask(0o000)
    try:
        result = train_model(cfg, AS_OF)
    finally:
        os.umask(old)
    assert result["model_version"] and Path(result["path"]).is_file()
    modes = {p.relative_to(cfg.models).as_posix(): stat.S_IMODE(p.lstat().st_mode) for p in cfg.models.rglob("*")}
    assert any(n.endswith(".joblib") for n in modes) and any(n.endswith(".html") for n in modes), modes
    assert stat.S_IMODE(cfg.models.stat().st_mode) == 0o750
    wrong = {n: f"{m:o}" for n, m in modes.items()
             if m not in ((0o750,) if (cfg.models / n).is_dir() else (0o640, 0o600))}
    assert wrong == {}
    for path in (cfg.warehouse, cfg.warehouse.with_name(cfg.warehouse.name + ".wal")):
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) in (0o640, 0o600), path
