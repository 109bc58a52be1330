"""The wobbling label is a first crisis under the place's own crisis rules within the horizon.

Checked against the rules stage itself: on a small synthetic place, the
rules stage (`apply_rules`, the nightly code) is run on feature tables
built for each past monthly date, and every person the training label calls
positive must be out of crisis at the snapshot and first in crisis at one of
the next `horizon` monthly dates, and no negative may be. The model's
metrics and card say how many positives each rule contributed.
"""

import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from helpers import write_place
from stratify.features.build import build_feature_table
from stratify.model.labels import first_crisis_step, positives_by_rule
from stratify.model.train import Split, build_snapshots, labelled, train_model
from stratify.rules import apply_rules
from stratify.run.context import RunContext
from stratify.run.pipeline import run_pipeline
from stratify.synth.generate import synthesize
from stratify.warehouse.connect import connect

AS_OF = date(2026, 11, 20)


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    folder = tmp_path_factory.mktemp("labels")
    cfg = write_place(folder, extra="model:\n  max_training_people: 3000\n")
    synthesize(cfg, people=1500, as_of=AS_OF, seed=7)
    assert run_pipeline(cfg, AS_OF)["status"] == "published"
    return cfg


def rules_stage_on(cfg, day: date) -> dict[str, set[str]]:
    """The nightly rules stage on `day` (history as known at AS_OF): person -> the rule ids met."""
    with connect(cfg) as con:
        build_feature_table(con, cfg, day, known_at=AS_OF)
    apply_rules(cfg, RunContext.new(cfg, day))
    with connect(cfg) as con:
        rows = con.execute("SELECT person_id, crisis_rules FROM crisis WHERE in_crisis").fetchall()
    return {p: set(r.split("; ")) for p, r in rows}


def test_the_training_label_is_a_first_crisis_under_the_rules_stage_within_the_horizon(place, tmp_path):
    cfg = place
    h = cfg.model.horizon_months
    s = build_snapshots(cfg, AS_OF)
    split = Split.for_history(len(s.dates), h)
    # the rules stage rewrites feat_person and crisis: on a copy of the warehouse, never the place's own
    copy = tmp_path / "copy.duckdb"
    shutil.copy(cfg.warehouse, copy)
    past = replace(cfg, warehouse=copy, out=tmp_path / "out")
    on = [rules_stage_on(past, d) for d in s.dates[: split.test + h + 1]]  # every past monthly date once
    checked = 0
    for i in [*split.fit, split.calib, split.test]:
        _, held = labelled(s, i, h)
        stage = on[i: i + h + 1]
        first = {}
        for k in range(h, 0, -1):  # the earliest date wins
            first.update({p: k for p in stage[k]})
        expected = {p for p in first if p not in stage[0]}
        positives = set(held.person_ids[held.y == 1])
        negatives = set(held.person_ids[held.y == 0])
        assert positives == expected - set(s.person_ids[s.excluded])
        assert not negatives & set(first), "a negative met a crisis rule within the horizon"
        assert not (positives | negatives) & set(stage[0]), "a training row was already in crisis at its snapshot"
        # each rule's count of positives: the rules met at the first crisis date, from the rules stage
        counts = positives_by_rule(cfg.rules, s.crisis, s.met, [i], h, s.excluded)
        for r in cfg.rules:
            assert counts["by_rule"][r.id] == sum(r.id in stage[first[p]][p] for p in positives)
            assert counts["only"][r.id] == sum(stage[first[p]][p] == {r.id} for p in positives)
        assert counts["positives"] == len(positives) and counts["rows"] == len(held.y)
        checked += len(positives)
    assert checked >= 20, "the place must have people entering crisis for this check to mean anything"


def test_the_model_records_and_the_card_shows_the_positives_each_rule_contributed(place):
    trained = train_model(place, AS_OF)  # the first night's model again ("already registered"), or a new one
    metrics = trained["metrics"]
    fit = metrics["label_rules"]["fit"]
    assert set(fit["by_rule"]) == {r.id for r in place.rules}
    assert fit["positives"] == metrics["fit_positives"] > 0
    assert sum(fit["by_rule"].values()) >= fit["positives"] >= sum(fit["only"].values())
    assert metrics["label_rules"]["test"]["rows"] == metrics["calibrated"]["rows"]
    card = Path(trained["model_card"]).read_text(encoding="utf-8")
    assert "Which crisis rule each positive met" in card
    for r in place.rules:
        assert f"<code>{r.id}</code>" in card


def test_first_crisis_step_takes_the_earliest_and_positives_count_every_rule_met_there():
    crisis = [np.array([False, False, True, False]), np.array([False, True, False, False]),
              np.array([True, True, False, False]), np.array([True, False, False, True])]
    assert first_crisis_step(crisis, 0, 2).tolist() == [2, 1, 0, 0]  # person 3's crisis is past the horizon
    assert first_crisis_step(crisis, 2, 3).tolist() == [1, 0, 0, 1]  # past the last snapshot counts as none
    met = [np.column_stack([c, np.zeros(4, bool)]) for c in crisis]
    met[1][1] = [True, True]  # person 1 meets both rules at the first crisis snapshot
    rules = (type("R", (), {"id": "a"})(), type("R", (), {"id": "b"})())
    got = positives_by_rule(rules, crisis, met, [0], 2)
    assert got == {"rows": 3, "positives": 2, "by_rule": {"a": 2, "b": 1}, "only": {"a": 1, "b": 0}}
