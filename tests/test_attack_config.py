"""Attacks on the configuration and the audited commands, done for real (issue 21 items 3, 6 and 7).

Each test plays an operator's mistake or a local user's forgery through the
same entry points people use (`stratify ...`, `load_config`, the Airflow
failure callback) and checks that it is refused with a reason, before
anything is touched, and that no pasted key is echoed anywhere.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import random
import shutil
from datetime import date
from pathlib import Path

import pytest

from helpers import pid, write_place
from stratify.cli import main
from stratify.config import ConfigError, CrisisRule, load_config
from stratify.files.durable import sha256_file
from stratify.run.audit import record_publications
from stratify.run.context import RunContext, published_run
from stratify.warehouse.database import connect

AS_OF = "2026-11-20"
REASON = "NT01 case conference on 24 November"
# An upper-case base32 key: made of A-Z and 2-7, so it fits an environment variable's name pattern.
# Random-looking keys, the same in every collection (pytest-xdist workers must collect identical test ids).
_RNG = random.Random(20261204)
KEY = base64.b32encode(_RNG.randbytes(30)).decode().rstrip("=")
HEX_KEY = _RNG.randbytes(32).hex()


def every_file_text(root: Path, skip: tuple[Path, ...] = ()) -> str:
    """Everything written under `root` (but the files in `skip`), as text, for 'is the key anywhere?'."""
    texts = []
    for path in root.rglob("*"):
        if path.is_file() and path not in skip:
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(texts)


# --------------------------------------------------------------------------- keys where names belong


@pytest.mark.parametrize("extra", [
    f"encryption:\n  key_env: {KEY}\n",
    f"encryption:\n  key_env: {HEX_KEY.upper()}\n",
    f"encryption:\n  airflow_variable: {KEY.lower()}\n",
    f"encryption:\n  airflow_variable: {HEX_KEY}\n",
    f"drops:\n  health:\n    location: sftp://h.example/in\n    conn_id: {KEY}\n",
    f"encryption:\n  key_env: {KEY}: x\n",  # not even YAML: pyyaml's own message would quote the line
    f"{KEY}: 1\n",  # pasted as a key of its own
    f"capacity:\n  default: 5\n  {KEY}: 3\n",
])
def test_a_key_pasted_where_a_name_belongs_is_refused_and_never_echoed(tmp_path, extra, capsys, caplog):
    write_place(tmp_path)
    config = tmp_path / "place.yaml"
    config.write_text(config.read_text(encoding="utf-8") + extra, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert KEY not in str(err.value) and HEX_KEY.upper() not in str(err.value).upper()
    if "key_env" in extra or "airflow_variable" in extra or "conn_id" in extra:
        assert "looks like a key" in str(err.value) or "not valid YAML" in str(err.value)

    rc = main(["run", "--config", str(config), "--as-of", AS_OF])
    printed = capsys.readouterr()
    assert rc == 2 and "configuration error" in printed.err
    from stratify.airflow.callbacks import report_task_failure

    class TI:
        task_id, dag_id, run_id, map_index, try_number = "purge", "stratify_retention", "manual__1", -1, 1

    with caplog.at_level(logging.ERROR, logger="stratify.airflow"):
        report = report_task_failure({"ti": TI(), "params": {"config": str(config)}, "exception": RuntimeError("x")})
    shown = printed.out + printed.err + caplog.text + json.dumps(report, default=str)
    shown += every_file_text(tmp_path, skip=(config,))  # status.json, if any, and whatever else was written
    for key in (KEY, KEY.lower(), HEX_KEY, HEX_KEY.upper()):
        assert key not in shown
    assert not (tmp_path / "out" / "status.json").exists() or KEY not in (tmp_path / "out" / "status.json").read_text()
    assert not (tmp_path / "wh.duckdb").exists()  # refused before the warehouse was opened


def test_real_variable_names_still_pass(tmp_path):
    cfg = write_place(tmp_path, extra="encryption:\n  key_env: STRATIFY_WAREHOUSE_KEY_WIGAN2026\n"
                                      "  airflow_variable: stratify.wigan-warehouse_key\n")
    assert cfg.encryption.key_env == "STRATIFY_WAREHOUSE_KEY_WIGAN2026"


# --------------------------------------------------------------------------- rules


RULE = "rules:\n  - {{id: '{id}', description: d, feature: {feature}, op: '>=', threshold: 3, reason: \"{reason}\"}}\n"


def _rule(id="smd_3", feature="smd_domains_365d", reason="{smd_domains_365d} domains"):
    return RULE.format(id=id, feature=feature, reason=reason)


@pytest.mark.parametrize("reason", ["{smd_domains_365d:>5000}", "{smd_domains_365d!r}", "{smd_domains_365d.real}",
                                    "{smd_domains_365d[0]}", "{} domains", "{smd_domains_365d:{smd_domains_90d}}",
                                    "unbalanced {smd_domains_365d"])
def test_format_spec_templates_are_refused_when_the_configuration_is_loaded(tmp_path, reason, capsys):
    with pytest.raises(ConfigError, match=r"rules\[0\]\.reason") as err:
        write_place(tmp_path, extra=_rule(reason=reason))
    assert len(str(err.value)) < 1000
    assert main(["run", "--config", str(tmp_path / "place.yaml"), "--as-of", AS_OF]) == 2
    assert "rules[0].reason" in capsys.readouterr().err
    assert not (tmp_path / "wh.duckdb").exists()
    with pytest.raises(ValueError):  # in code too: pydantic checks a rule built directly
        CrisisRule("x", "x", "smd_domains_365d", ">=", 1, reason)


@pytest.mark.parametrize("rule_id", ["(", "<b>x</b>", "High_AE", "a;b", "", "a" * 65, "ae 5"])
def test_bad_rule_ids_are_refused(tmp_path, rule_id):
    with pytest.raises(ConfigError, match=r"rules\[0\]\.id"):
        write_place(tmp_path, extra=_rule(id=rule_id))


def test_duplicate_rule_ids_are_refused(tmp_path):
    two = _rule() + _rule().replace("rules:\n", "")
    with pytest.raises(ConfigError, match=r"rules\[1\]\.id: 'smd_3' is also the id of rules\[0\]"):
        write_place(tmp_path, extra=two)


@pytest.mark.parametrize("feature, reason, where", [
    ("no_such_feature", "{smd_domains_365d}", r"rules\[0\]\.feature: 'no_such_feature' is not a feature"),
    ("smd_domain_names_365d", "{smd_domains_365d}", "is not a numeric feature"),
    ("smd_domains_365d", "{smd_domains_365d} and {made_up_90d}", r"rules\[0\]\.reason: unknown feature\(s\) made_up"),
])
def test_unknown_features_are_configuration_errors_at_load_exit_2(tmp_path, feature, reason, where, capsys):
    with pytest.raises(ConfigError, match=where):
        write_place(tmp_path, extra=_rule(feature=feature, reason=reason))
    assert main(["run", "--config", str(tmp_path / "place.yaml"), "--as-of", AS_OF]) == 2
    assert not (tmp_path / "wh.duckdb").exists()  # found before anything ran, not mid-run


def test_domains_without_homelessness_break_the_default_rule_at_load(tmp_path):
    """The default rule quotes smd_homelessness_events_90d: a place whose domains lack it is told at load."""
    extra = ("domains:\n  mental_health:\n    - {source: health, event_types: [mh_contact]}\n"
             "  offending:\n    - {source: police}\n")
    with pytest.raises(ConfigError, match=r"rules\[3\]\.feature: 'smd_homelessness_events_90d' is not a feature"):
        write_place(tmp_path, extra=extra)


def test_rule_counts_use_whole_ids(tmp_path):
    """`by_rule` counts each id whole: one id that begins another is not counted twice."""
    from stratify.rules import apply_rules

    cfg = write_place(tmp_path, extra=_rule(id="ae", feature="health_ae_attendance_90d",
                                            reason="{health_ae_attendance_90d} A&E")
                      + _rule(id="ae_5", feature="health_ae_attendance_90d", reason="x").replace("rules:\n", "")
                      .replace("threshold: 3", "threshold: 5"))
    with connect(cfg) as con:
        con.execute("CREATE TABLE feat_person AS SELECT * FROM (VALUES ($1, 3), ($2, 6), ($3, 0)) "
                    "AS t(person_id, health_ae_attendance_90d)", [pid(1), pid(2), pid(3)])
    summary = apply_rules(cfg, RunContext("20261120T000000000000Z", cfg.place, date(2026, 11, 20)))
    assert summary["by_rule"] == {"ae": 2, "ae_5": 1} and summary["in_crisis"] == 2


# --------------------------------------------------------------------------- neighbourhoods


@pytest.mark.parametrize("teams, message", [
    ({"E01000001": "NT 01"}, "line 2: team code"),
    ({"E01000001": "<script>"}, "line 2: team code"),
    ({"E0100000X": "NT01"}, "line 2: lsoa21"),
])
def test_bad_team_codes_are_refused_at_load_exit_2(tmp_path, teams, message, capsys):
    with pytest.raises(ConfigError, match=message):
        write_place(tmp_path, teams=teams)
    assert main(["run", "--config", str(tmp_path / "place.yaml"), "--as-of", AS_OF]) == 2
    assert message.split(": ")[1] in capsys.readouterr().err
    assert not (tmp_path / "wh.duckdb").exists()


def test_an_lsoa_mapped_to_two_teams_is_refused_at_load(tmp_path):
    (tmp_path / "neighbourhoods.csv").write_text("lsoa21,team\nE01000001,NT01\nE01000002,NT02\nE01000001,NT02\n"
                                                 "E01000003,bad team\n", encoding="utf-8")
    (tmp_path / "place.yaml").write_text("place: x\nlanding: l\nwarehouse: w.duckdb\nout: o\n"
                                         "neighbourhoods: neighbourhoods.csv\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "place.yaml")
    assert err.value.problems == [
        f"neighbourhoods: {tmp_path / 'neighbourhoods.csv'} line 4: LSOA E01000001 is mapped to two teams "
        "(also on line 2)",
        f"neighbourhoods: {tmp_path / 'neighbourhoods.csv'} line 5: team code must be 1-64 of [A-Za-z0-9_-]"]


# --------------------------------------------------------------------------- the audited commands


@pytest.fixture
def published(tmp_path):
    """A place with one published run (lists recorded in `publications`, `latest` pointing at it)."""
    cfg = write_place(tmp_path)
    (tmp_path / "me").mkdir(mode=0o700)
    run = cfg.out / "runs" / "20261120T020000000000Z"
    (run / "lists").mkdir(parents=True)
    (run / "lists" / "NT01.csv").write_text(
        "rank,person_id,household_id,tier,score,reasons,agencies,change\n"
        f"1,{pid(3)},,crisis,0.9,r,health,new\n2,{pid(1)},,crisis,0.8,r,police,new\n", encoding="utf-8")
    files = [{"team": "NT01", "path": "lists/NT01.csv", "rows": 2, "sha256": sha256_file(run / "lists" / "NT01.csv")}]
    record_publications(cfg, RunContext(run.name, cfg.place, date(2026, 11, 20)), files)
    os.symlink(os.path.relpath(run, cfg.out), cfg.out / "latest")
    lookup = tmp_path / "lookup.csv"
    lookup.write_text("person_id,name\n" + "".join(f"{pid(n)},Name{n}\n" for n in range(1, 6)), encoding="utf-8")
    return cfg, run, lookup, tmp_path / "me"


def access_rows(cfg) -> list[tuple]:
    with connect(cfg) as con:
        return con.execute("SELECT user_name, action, reason FROM access_log").fetchall()


def export(cfg, out: Path, user: str = "Bob Lead", reason: str = REASON) -> int:
    return main(["export-list", "--config", str(cfg.path), "--team", "NT01", "--user", user, "--reason", reason,
                 "--to", str(out)])


@pytest.mark.parametrize("user, reason", [
    ("Bob\n2026-11-20T00:00:00,root,export_list", REASON),  # a forged second row
    ("Bob, admin", REASON),
    ("Bob\u200b", REASON),  # an invisible zero-width space
    ("Bob\u202eenoyna", REASON),  # a right-to-left override
    ("Bob Lead", "x.x.x"),
    ("Bob Lead", "one-word-reason"),
    ("Bob Lead", "NT01 case conference\r\nforged row"),
])
def test_forged_user_names_and_reasons_are_refused_and_nothing_is_logged(published, user, reason, capsys):
    cfg, _, _, me = published
    assert export(cfg, me / "x.csv", user, reason) == 1
    err = capsys.readouterr().err
    assert "--user must be a name" in err or "--reason must say why" in err
    assert not (me / "x.csv").exists() and access_rows(cfg) == []


def test_latest_swapped_to_a_folder_outside_runs_is_refused(published, tmp_path, capsys):
    cfg, run, _, me = published
    forged = tmp_path / "forged"
    shutil.copytree(run, forged)
    (forged / "lists" / "NT01.csv").write_text("rank,person_id\n1," + pid(99) + "\n", encoding="utf-8")
    latest = cfg.out / "latest"
    latest.unlink()
    latest.symlink_to(forged)
    assert export(cfg, me / "x.csv") == 1
    assert "points outside the published runs" in capsys.readouterr().err
    assert not (me / "x.csv").exists() and access_rows(cfg) == []


@pytest.mark.parametrize("how", ["staging", "unrecorded", "edited", "dangling", "chain"])
def test_latest_must_be_a_published_run_recorded_in_publications(published, how):
    from stratify.errors import NotPublished

    cfg, run, _, me = published
    latest = cfg.out / "latest"
    latest.unlink()
    if how == "staging":
        staging = cfg.out / "runs" / ".staging-20261121T020000000000Z"
        shutil.copytree(run, staging)
        latest.symlink_to(staging)
    elif how == "unrecorded":
        other = cfg.out / "runs" / "20261121T020000000000Z"
        shutil.copytree(run, other)
        latest.symlink_to(other)
    elif how == "edited":  # the run is published, but its list was changed afterwards
        latest.symlink_to(run)
        (run / "lists" / "NT01.csv").write_text("rank,person_id\n1," + pid(99) + "\n", encoding="utf-8")
    elif how == "dangling":
        latest.symlink_to(cfg.out / "runs" / "gone")
    else:  # a link to a link to a folder outside runs/
        hop = cfg.out / "runs" / "hop"
        hop.symlink_to(cfg.path.parent)
        latest.symlink_to(hop)
    with pytest.raises(NotPublished):
        from stratify.access.reidentify import export_list

        export_list(cfg, "NT01", "Bob Lead", REASON, me / "x.csv")
    assert not (me / "x.csv").exists() and access_rows(cfg) == []


def test_published_run_is_the_one_resolver(published):
    cfg, run, _, _ = published
    pub = published_run(cfg)
    assert pub.run_id == run.name and pub.folder == run.resolve() and set(pub.files) == {"lists/NT01.csv"}


def test_reidentify_takes_only_a_published_list(published, capsys):
    cfg, run, lookup, me = published
    forged = me / "forged.csv"
    forged.write_text((run / "lists" / "NT01.csv").read_text(encoding="utf-8") + f"3,{pid(5)},,crisis,0.7,r,x,new\n",
                      encoding="utf-8")
    for bad in (lookup, forged):  # the lookup itself (everyone in it), or a published list with someone added
        rc = main(["reidentify", "--config", str(cfg.path), "--list", str(bad), "--lookup", str(lookup),
                   "--user", "Ann Controller", "--reason", REASON, "--to", str(me / "o.csv")])
        assert rc == 1 and "is not a list stratify published" in capsys.readouterr().err
        assert not (me / "o.csv").exists() and access_rows(cfg) == []
    exported = me / "exported.csv"
    shutil.copyfile(run / "lists" / "NT01.csv", exported)  # an unchanged export is still that published list
    rc = main(["reidentify", "--config", str(cfg.path), "--list", str(exported), "--lookup", str(lookup),
               "--user", "Ann Controller", "--reason", REASON, "--to", str(me / "o.csv")])
    assert rc == 0, capsys.readouterr().err
    assert (me / "o.csv").read_text(encoding="utf-8").splitlines() == ["person_id,name", f"{pid(3)},Name3",
                                                                      f"{pid(1)},Name1"]
    assert access_rows(cfg) == [("Ann Controller", "reidentify", REASON)]
