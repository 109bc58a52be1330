"""The contract file and the place configuration: parsed exactly, refused clearly."""

from pathlib import Path

import pytest

from stratify.config import ConfigError, load_config, parse_config
from stratify.contract import is_valid_nhs_number, load_contract

CONTRACT_MD = Path(__file__).resolve().parents[2] / "shared" / "data-contract.md"


def test_contract_has_the_six_sources_and_their_codes():
    c = load_contract()
    assert c.source_names == ("register", "health", "social_care", "housing", "police", "outcomes")
    assert "ae_attendance" in c.source("health").event_types
    assert len(c.source("police").event_types) == 9
    assert c.source("register").column("person_id").unique
    assert c.source("health").column("event_date").max == "delivery_date"
    assert c.list_columns == ("rank", "person_id", "household_id", "tier", "score", "reasons", "agencies", "change")


@pytest.mark.skipif(not CONTRACT_MD.exists(), reason="the shared contract text is not beside the checkout")
def test_every_event_code_in_the_contract_text_is_in_the_machine_readable_copy():
    text = CONTRACT_MD.read_text(encoding="utf-8")
    for source in load_contract().event_sources:
        for code in source.event_types:
            assert f"`{code}`" in text, f"{source.name}.{code} is not in data-contract.md"


@pytest.mark.parametrize("name, expected", [
    ("health_20261121.parquet", ("health", 1)),
    ("police_20261121_2.csv", ("police", 2)),
    ("social_care_20261121.csv", ("social_care", 1)),
    ("health_20260231.csv", None),
    ("health.csv", None),
    ("pharmacy_20261121.csv", None),
    ("health_20261121.xlsx", None),
])
def test_file_names(name, expected):
    parsed = load_contract().parse_file_name(name)
    assert (parsed and (parsed.source, parsed.seq)) == (expected or None)


@pytest.mark.parametrize("column, kind", [
    ("surname", "name"), ("First Name", "name"), ("NHS_Number", "nhs_number"), ("nhsno", "nhs_number"),
    ("dob", "date_of_birth"), ("Date of Birth", "date_of_birth"), ("postcode", "postcode"),
    ("address_line_1", "address"), ("phone", "phone"), ("mobile_no", "phone"), ("email", "email"),
    ("birth_year_month", None), ("household_id", None), ("event_type", None), ("date_of_death", None),
])
def test_identifier_like_columns(column, kind):
    assert load_contract().identifier_kind(column) == kind


def test_nhs_number_check_digit():
    assert is_valid_nhs_number("9434765919")
    assert not is_valid_nhs_number("9434765918")
    assert not is_valid_nhs_number("943476591")


def test_minimal_version_1_config_gets_defaults(tmp_path):
    (tmp_path / "p.yaml").write_text("place: wigan\nlanding: l\nwarehouse: w.duckdb\nout: o\nneighbourhoods: n.csv\n")
    cfg = load_config(tmp_path / "p.yaml")
    assert cfg.landing == (tmp_path / "l").resolve()
    assert cfg.capacity("ANY") == 50
    assert cfg.quarantine == (tmp_path / "quarantine").resolve()
    assert cfg.model.horizon_months == 6


@pytest.mark.parametrize("raw, key", [
    ({"place": "Bad Name"}, "place"),
    ({"place": "x", "landing": "l", "warehouse": "w", "out": "o", "neighbourhoods": "n", "capacity": {"default": 0}}, "capacity.default"),
    ({"place": "x", "landing": "l", "warehouse": "w", "out": "o", "neighbourhoods": "n", "colour": 1}, "colour"),
    ({"place": "x", "landing": "l", "warehouse": "w", "out": "o", "neighbourhoods": "n", "model": {"horizon_months": "six"}}, "model.horizon_months"),
    ({"place": "x", "landing": "l", "warehouse": "w", "out": "o", "neighbourhoods": "n", "rules": [{"id": "a"}]}, "rules[0]"),
    ({"place": "x", "warehouse": "w", "out": "o", "neighbourhoods": "n"}, "landing"),
])
def test_bad_config_names_the_key(tmp_path, raw, key):
    with pytest.raises(ConfigError) as err:
        parse_config(raw, tmp_path / "p.yaml")
    assert any(p.startswith(key) for p in err.value.problems), err.value.problems
    assert key in str(err.value)


BASE = {"place": "x", "landing": "l", "warehouse": "w", "out": "o", "neighbourhoods": "n"}


def test_one_error_names_every_bad_key(tmp_path):
    """Unknown keys, wrong types and bad values anywhere in the file: all named at once, not the first only."""
    raw = {**BASE, "place": "Bad Name", "colour": 1, "api_token": "x",
           "capacity": {"default": 0, "NT 1": 5},
           "model": {"horizon_months": "six", "fit_negative_share": 2.0, "colour": 1},
           "lists": {"snooze_days": -1, "already_working_days": -2},
           "retention": {"runs_days": 0},
           "duckdb": {"threads": "two"},
           "rules": [{"id": "a"}, {"id": "b", "description": "d", "feature": "Bad-Name", "op": "~",
                                   "threshold": "3", "reason": "r"}],
           "drops": {"health": {"location": "", "done_marker": "yes"}, "pharmacy": {"location": "/x"}},
           "encryption": {"key_env": "lower"}}
    with pytest.raises(ConfigError) as err:
        parse_config(raw, tmp_path / "p.yaml")
    problems = err.value.problems
    expected = ["api_token:", "colour: unknown", "place:", "capacity.default:", "capacity.NT 1: not a team code",
                "model: unknown key(s) colour", "model.horizon_months:", "model.fit_negative_share:",
                "lists.snooze_days:", "lists.already_working_days:", "retention.runs_days:", "duckdb.threads:",
                "rules[0]: missing", "rules[1].op:", "rules[1].feature:", "rules[1].threshold:",
                "drops.health.done_marker:", "drops.health.location:", "drops.pharmacy:", "encryption.key_env:"]
    for start in expected:
        assert sum(p.startswith(start) for p in problems) == 1, (start, problems)
    assert len(problems) == len(expected), problems
    text = str(err.value)
    assert text.startswith(f"{len(expected)} problems in {tmp_path / 'p.yaml'}: ")
    assert all(p in text for p in problems)


def test_a_single_problem_reads_as_before(tmp_path):
    with pytest.raises(ConfigError) as err:
        parse_config({**BASE, "duckdb": {"threads": "two"}}, tmp_path / "p.yaml")
    assert str(err.value) == "duckdb.threads: expected int, got 'two'"


def test_neighbourhoods_file_is_checked(tmp_path):
    (tmp_path / "n.csv").write_text("lsoa21,team\nE0100000X,A\n")
    (tmp_path / "p.yaml").write_text("place: x\nlanding: l\nwarehouse: w\nout: o\nneighbourhoods: n.csv\n")
    with pytest.raises(ConfigError, match="line 2: lsoa21"):
        load_config(tmp_path / "p.yaml").team_for_lsoa()


@pytest.mark.parametrize("section, key, value", [
    (None, "timezone", "Not/AZone"),
    (None, "timezone", "../../etc/passwd"),
    ("model", "horizon_months", -3),
    ("model", "history_months", 0),
    ("model", "min_wobbling_score", 7.5),
    ("model", "seed", -1),
    ("duckdb", "threads", 0),
    ("duckdb", "memory_limit", "lots"),
    ("validation", "max_refused_share", 2.0),
    ("validation", "key_mismatch_share", -0.1),
    ("validation", "volume_factor", 0.5),
    ("suppression", "round_to", 0),
    ("model", "horizon_months", True),
    ("model", "max_fairness_gap", float("nan")),
])
def test_every_range_and_kind_is_checked(tmp_path, section, key, value):
    raw = {**BASE, **({section: {key: value}} if section else {key: value})}
    with pytest.raises(ConfigError) as err:
        parse_config(raw, tmp_path / "p.yaml")
    dotted = f"{section}.{key}" if section else key
    assert [p for p in err.value.problems if p.startswith(f"{dotted}:")], err.value.problems


def test_the_command_names_every_bad_key_and_exits_2(tmp_path, capsys):
    from stratify.cli import main

    (tmp_path / "p.yaml").write_text(
        "place: x\nlanding: l\nwarehouse: w\nout: o\nneighbourhoods: n\ntimezone: Not/AZone\n"
        "model: {horizon_months: -3, history_months: 0, min_wobbling_score: 7.5}\nduckdb: {threads: 0}\n"
        "validation: {max_refused_share: 2.0}\n", encoding="utf-8")
    assert main(["run", "--config", str(tmp_path / "p.yaml"), "--as-of", "2026-11-20"]) == 2
    err = capsys.readouterr().err
    assert "6 problems" in err
    for key in ("timezone:", "model.horizon_months:", "model.history_months:", "model.min_wobbling_score:",
                "duckdb.threads:", "validation.max_refused_share:"):
        assert key in err, key


def test_the_configuration_is_frozen_and_checked_when_copied(tmp_path):
    import dataclasses

    (tmp_path / "p.yaml").write_text("place: x\nlanding: l\nwarehouse: w\nout: o\nneighbourhoods: n\n")
    cfg = load_config(tmp_path / "p.yaml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.model.horizon_months = 1  # type: ignore[misc]
    assert dataclasses.replace(cfg.model, horizon_months=3).horizon_months == 3
    with pytest.raises(ValueError):
        dataclasses.replace(cfg.model, horizon_months=-3)


def test_yaml_errors_say_where_without_quoting_the_line(tmp_path):
    (tmp_path / "p.yaml").write_text("place: x\nencryption:\n  key_env: SECRETVALUE123: oops\n")
    with pytest.raises(ConfigError, match="not valid YAML at line 3") as err:
        load_config(tmp_path / "p.yaml")
    assert "SECRETVALUE123" not in str(err.value)


def test_feature_names_known_at_load_are_the_columns_the_night_builds(tmp_path):
    """The dry build on an empty database gives exactly the columns of a real warehouse's feat_person."""
    from datetime import date

    from helpers import add_person, write_place
    from stratify.config.features import feature_columns
    from stratify.features.build import build_features
    from stratify.link import link_persons
    from stratify.run.context import RunContext
    from stratify.warehouse.database import connect

    cfg = write_place(tmp_path)
    with connect(cfg) as con:
        for n in range(1, 4):
            add_person(con, n)
    ctx = RunContext("20261120T000000000000Z", cfg.place, date(2026, 11, 20))
    link_persons(cfg, ctx)
    build_features(cfg, ctx)
    with connect(cfg) as con:
        real = dict(con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = "
                                "'feat_person' ORDER BY column_index").fetchall())
    assert feature_columns(cfg.domains) == real
    assert {"smd_domains_365d", "health_ae_attendance_90d", "police_events_90d"} <= set(real)


def test_quote_identifier_takes_only_names_stratify_defines():
    from stratify.errors import WarehouseError
    from stratify.warehouse.identifiers import quote_identifier, render_identifier

    for name in ("raw_events", "publications", "feat_person", "person_id", "lsoa21", "health_ae_attendance_90d"):
        assert quote_identifier(name) == f'"{name}"'
    for bad in ("not_a_table", 'x"; DROP TABLE runs; --', "Persons", "", "a" * 70, None):
        with pytest.raises(WarehouseError, match="refusing to put"):
            quote_identifier(bad)
    assert quote_identifier("my_column", allowed={"my_column"}) == '"my_column"'
    with pytest.raises(WarehouseError):
        render_identifier("raw_events", {"raw_register"})  # known, but not on this caller's list


def test_every_kind_of_error_carries_its_action_and_exit_code(tmp_path):
    """explain_failure and the CLI use the error's own action (subclasses too), never its class name."""
    from stratify import errors
    from stratify.run.status import explain_failure

    (tmp_path / "p.yaml").write_text("place: x\nlanding: l\nwarehouse: w\nout: o\nneighbourhoods: n\n")
    cfg = load_config(tmp_path / "p.yaml")

    class StaleModel(errors.ModelError):
        pass

    cases = [(StaleModel("model too old"), "run `stratify train --config"),
             (errors.ConfigError("rules[0].feature: x"), f"correct the named key(s) in {cfg.path}"),
             (errors.RunLocked("run r is active", {}), "wait for the active run to finish"),
             (errors.WarehouseLocked("held"), "wait for the program holding"),
             (errors.WarehouseDamaged("bad"), f"restore {cfg.warehouse} from its last backup"),
             (errors.PublishCheckFailed("bad list"), "failed their checks"),
             (RuntimeError("boom"), "see the task log")]
    for exc, action in cases:
        message, said = explain_failure(cfg, exc, "score")
        assert action in said and said.endswith("the last good lists stay published"), (exc, said)
        assert "stage score failed" in message
    assert [e.exit_code for e in (errors.ConfigError(), errors.RunLocked("x"), errors.PublishHeld(),
                                  errors.ModelError(), errors.AccessRefused())] == [2, 4, 3, 1, 1]


def test_the_cli_prints_the_errors_action_and_exits_with_its_code(tmp_path, capsys, monkeypatch):
    import stratify.model.train as train
    from stratify.cli import main
    from stratify.errors import ModelError

    def no_model(cfg, as_of, answer_key=None):
        raise ModelError("too little history to train: 3 months, 24 needed")

    monkeypatch.setattr(train, "train_model", no_model)
    (tmp_path / "p.yaml").write_text("place: x\nlanding: l\nwarehouse: w\nout: o\nneighbourhoods: n\n")
    assert main(["train", "--config", str(tmp_path / "p.yaml"), "--as-of", "2026-11-20"]) == 1
    err = capsys.readouterr().err
    assert "too little history" in err and f"What to do: restore the model file or run `stratify train --config " \
        f"{tmp_path / 'p.yaml'}`" in err
