"""Re-identification and list export: only what was asked, only where allowed, always logged, never echoed."""

from __future__ import annotations

import json
import os
import stat
from datetime import date

import pytest

from helpers import pid, write_place
from stratify.access.reidentify import AccessRefused, NotPublished, export_list, read_person_ids, reidentify
from stratify.cli import main
from stratify.files.durable import sha256_file
from stratify.run.audit import record_publications
from stratify.run.context import RunContext
from stratify.warehouse.database import connect

RUN_ID = "20261120T020000000000Z"

REASON = "NT01 case conference on 24 November"
ABOUT = "About this list (team NT01)\n\nThis list supports a professional's judgement; it decides nothing.\n"
# identifying values the lookup holds; none may ever appear in a message or in the log
NAMES = {n: f"Person Surname{n:03d}" for n in range(1, 11)}
NHS = {n: f"94345{n:05d}" for n in range(1, 11)}


@pytest.fixture
def place(tmp_path):
    cfg = write_place(tmp_path)
    (tmp_path / "controller").mkdir(mode=0o700)
    (tmp_path / "me").mkdir(mode=0o700)
    lookup = tmp_path / "controller" / "lookup.csv"
    lookup.write_text("person_id,nhs_number,name\n" + "".join(
        f"{pid(n)},{NHS[n]},{NAMES[n]}\n" for n in range(1, 11)), encoding="utf-8")
    run = cfg.out / "runs" / "20261120T020000000000Z"
    (run / "lists").mkdir(parents=True)
    # the published list: people 3, 1, 42 (42 is not in the lookup)
    (run / "lists" / "NT01.csv").write_text(
        "rank,person_id,household_id,tier,score,reasons,agencies,change\n"
        f"1,{pid(3)},,crisis,0.9,r,health,new\n2,{pid(1)},,crisis,0.8,r,police,new\n"
        f"3,{pid(42)},,wobbling,0.3,r,housing,new\n", encoding="utf-8")
    (run / "teams" / "NT01").mkdir(parents=True)
    (run / "teams" / "NT01" / "about_this_list.txt").write_text(ABOUT, encoding="utf-8")
    publish(cfg, run)
    return cfg, lookup, tmp_path / "me"


def publish(cfg, run) -> None:
    """Record the run's lists in `publications` and point `latest` at it, as the publish stage does."""
    files = [{"team": p.stem, "path": f"lists/{p.name}", "rows": 3, "sha256": sha256_file(p)}
             for p in sorted((run / "lists").glob("*.csv"))]
    files += [{"team": p.parent.name, "path": p.relative_to(run).as_posix(), "rows": None, "sha256": sha256_file(p)}
              for p in sorted((run / "teams").glob("*/about_this_list.txt"))]
    record_publications(cfg, RunContext(run.name, cfg.place, date(2026, 11, 20)), files)
    latest = cfg.out / "latest"
    if latest.is_symlink():
        latest.unlink()
    os.symlink(os.path.relpath(run, cfg.out), latest)


def access_log(cfg) -> list[tuple]:
    with connect(cfg) as con:
        return con.execute("SELECT user_name, action, target, reason, n_people FROM access_log "
                           "ORDER BY accessed_at").fetchall()


def assert_no_identities(*texts: str) -> None:
    for text in texts:
        for n in NAMES:
            assert NAMES[n] not in text and NHS[n] not in text


def test_reidentify_writes_only_the_listed_people_owner_only_and_logs(place, capsys):
    cfg, lookup, me = place
    lst = cfg.out / "latest" / "lists" / "NT01.csv"
    out = me / "nt01-contacts.csv"
    rc = main(["reidentify", "--config", str(cfg.path), "--list", str(lst), "--lookup", str(lookup),
               "--user", "Ann Controller", "--reason", REASON, "--to", str(out)])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    assert "re-identified 2 of 3 people" in printed.out and "1 not in the lookup" in printed.out
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines == ["person_id,nhs_number,name", f"{pid(3)},{NHS[3]},{NAMES[3]}", f"{pid(1)},{NHS[1]},{NAMES[1]}"]
    [(user, action, target, reason, n)] = access_log(cfg)
    assert (user, action, reason, n) == ("Ann Controller", "reidentify", REASON, 2)
    facts = json.loads(target)
    assert facts["matched"] == 2 and facts["not_matched"] == 1
    assert facts["output"] == str(out) and facts["lookup"] == str(lookup.resolve())
    assert_no_identities(printed.out, printed.err, target)


def test_the_output_is_never_overwritten(place):
    cfg, lookup, me = place
    out = me / "taken.csv"
    out.write_text("keep me", encoding="utf-8")
    with pytest.raises(AccessRefused, match="already exists"):
        reidentify(cfg, cfg.out / "latest" / "lists" / "NT01.csv", lookup, "ann", REASON, out)
    assert out.read_text(encoding="utf-8") == "keep me"
    link = me / "link.csv"
    link.symlink_to(me / "elsewhere.csv")
    with pytest.raises(AccessRefused, match="already exists"):
        reidentify(cfg, cfg.out / "latest" / "lists" / "NT01.csv", lookup, "ann", REASON, link)
    assert not (me / "elsewhere.csv").exists()
    assert access_log(cfg) == []


@pytest.mark.parametrize("where", ["out/runs/x.csv", "out/latest/lists/ids.csv", "landing/health/ids.csv",
                                   "archive/ids.csv", "quarantine/ids.csv"])
def test_never_inside_the_pipelines_folders(place, where):
    cfg, lookup, _ = place
    target = cfg.path.parent / where
    target.parent.mkdir(parents=True, exist_ok=True)
    with pytest.raises(AccessRefused, match="refusing to write inside the pipeline"):
        reidentify(cfg, cfg.out / "latest" / "lists" / "NT01.csv", lookup, "ann", REASON, target)
    assert not target.exists()
    assert access_log(cfg) == []


@pytest.mark.parametrize("user,reason,message", [
    ("", REASON, "--user is required"),
    ("   ", REASON, "--user is required"),
    ("ann", "", "--reason must say why"),
    ("ann", "because", "--reason must say why"),
    ("ann", "case  conf", "--reason must say why"),
    ("ann", "x.x.x", "--reason must say why"),
    ("ann", "one-word-reason", "--reason must say why"),
    ("ann", "a b c d", "--reason must say why"),
    ("ann", "case case case", "--reason must say why"),
    ("ann", "NT01 case\nconference", "--reason must say why"),
    ("ann", "NT01 case conference\u200b today", "--reason must say why"),
    ("ann", "NT01 case conference " + "very " * 80, "--reason must say why"),
    ("Ann\nroot", REASON, "--user must be a name"),
    ("Ann, admin", REASON, "--user must be a name"),
    ("Ann\u200bLee", REASON, "--user must be a name"),
    ("A" * 101, REASON, "--user must be a name"),
    ("-rf", REASON, "--user must be a name"),
])
def test_user_and_a_real_reason_are_required(place, user, reason, message):
    cfg, lookup, me = place
    with pytest.raises(AccessRefused, match=message):
        reidentify(cfg, cfg.out / "latest" / "lists" / "NT01.csv", lookup, user, reason, me / "o.csv")
    assert not (me / "o.csv").exists() and access_log(cfg) == []


def test_bad_inputs_name_the_line_never_the_value(place):
    cfg, lookup, me = place
    bad_list = me / "bad-list.csv"
    bad_list.write_text(f"person_id\n{pid(1)}\n{NHS[2]}\n", encoding="utf-8")
    with pytest.raises(AccessRefused, match="is not a list stratify published") as err:
        reidentify(cfg, bad_list, lookup, "ann", REASON, me / "o.csv")  # refused before it is read
    with pytest.raises(AccessRefused, match="line 3: person_id is not a pseudonym") as err:
        read_person_ids(bad_list)
    assert_no_identities(str(err.value))
    no_column = me / "no-column.csv"
    no_column.write_text("rank,name\n1,x\n", encoding="utf-8")
    with pytest.raises(AccessRefused, match="no person_id column"):
        read_person_ids(no_column)
    twice = me / "twice.csv"
    twice.write_text(lookup.read_text(encoding="utf-8") + f"{pid(1)},{NHS[5]},{NAMES[5]}\n", encoding="utf-8")
    with pytest.raises(AccessRefused, match="line 12: this person_id is also on line 2") as err:
        reidentify(cfg, cfg.out / "latest" / "lists" / "NT01.csv", twice, "ann", REASON, me / "o.csv")
    assert_no_identities(str(err.value))
    only_ids = me / "only-ids.csv"
    only_ids.write_text(f"person_id\n{pid(1)}\n", encoding="utf-8")
    with pytest.raises(AccessRefused, match="at least one identifying column"):
        reidentify(cfg, cfg.out / "latest" / "lists" / "NT01.csv", only_ids, "ann", REASON, me / "o.csv")
    with pytest.raises(AccessRefused, match="does not exist"):
        reidentify(cfg, me / "missing.csv", lookup, "ann", REASON, me / "o.csv")
    assert not (me / "o.csv").exists() and access_log(cfg) == []


def test_refusals_on_the_command_line_exit_1_without_a_traceback(place, capsys):
    cfg, lookup, me = place
    rc = main(["reidentify", "--config", str(cfg.path), "--list", str(cfg.out / "latest" / "lists" / "NT01.csv"),
               "--lookup", str(lookup), "--user", "ann", "--reason", "why", "--to", str(me / "o.csv")])
    err = capsys.readouterr().err
    assert rc == 1 and "AccessRefused" in err and "--reason must say why" in err and "Traceback" not in err
    assert "What to do:" in err


def test_export_list_copies_the_published_list_owner_only_and_logs(place, capsys):
    cfg, _, me = place
    out = me / "nt01.csv"
    rc = main(["export-list", "--config", str(cfg.path), "--team", "NT01", "--user", "Bob Lead",
               "--reason", REASON, "--to", str(out)])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    assert "3 people" in printed.out
    assert out.read_bytes() == (cfg.out / "latest" / "lists" / "NT01.csv").read_bytes()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    [(user, action, target, reason, n)] = access_log(cfg)
    assert (user, action, reason, n) == ("Bob Lead", "export_list", REASON, 3)
    facts = json.loads(target)
    assert facts["team"] == "NT01" and facts["run_id"] == "20261120T020000000000Z" and facts["output"] == str(out)
    assert len(facts["sha256"]) == 64
    # the list's own words go with it, owner-only, and the log says where
    about = me / "nt01.about_this_list.txt"
    assert about.read_text(encoding="utf-8") == ABOUT and stat.S_IMODE(about.stat().st_mode) == 0o600
    assert facts["about"] == str(about) and str(about) in printed.out
    with pytest.raises(AccessRefused, match="already exists"):
        export_list(cfg, "NT01", "Bob Lead", REASON, out)
    assert len(access_log(cfg)) == 1


def test_export_list_refuses_a_list_without_its_words_and_never_overwrites_them(place):
    cfg, _, me = place
    (me / "x.about_this_list.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(AccessRefused, match="x.about_this_list.txt already exists"):
        export_list(cfg, "NT01", "bob", REASON, me / "x.csv")
    assert (me / "x.about_this_list.txt").read_text(encoding="utf-8") == "mine"
    # a run whose about file was changed after publication: nothing is exported
    run = cfg.out / "latest"
    (run / "teams" / "NT01" / "about_this_list.txt").write_text("edited", encoding="utf-8")
    with pytest.raises(NotPublished, match="about_this_list.txt is not the file published"):
        export_list(cfg, "NT01", "bob", REASON, me / "y.csv")
    assert sorted(p.name for p in me.iterdir()) == ["x.about_this_list.txt"] and access_log(cfg) == []


def test_export_list_refusals(place):
    cfg, _, me = place
    with pytest.raises(AccessRefused, match="no published list for team NT09 in .*; teams with lists: NT01"):
        export_list(cfg, "NT09", "bob", REASON, me / "x.csv")
    with pytest.raises(AccessRefused, match="--team must be a team code"):
        export_list(cfg, "../NT01", "bob", REASON, me / "x.csv")
    with pytest.raises(AccessRefused, match="refusing to write inside the pipeline's out folder"):
        export_list(cfg, "NT01", "bob", REASON, cfg.out / "copy.csv")
    with pytest.raises(AccessRefused, match="does not exist; create it"):
        export_list(cfg, "NT01", "bob", REASON, me / "no-such-folder" / "x.csv")
    assert not list(me.iterdir()) and access_log(cfg) == []
