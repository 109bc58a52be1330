"""A review's note is kept only in the app, for `app.note_retention_days`: then removed, the review itself kept."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from app_place import Clock, add_users, audit_rows, client, log_in, make_published_place, token

from helpers import pid
from stratify.app.store import open_db
from stratify.cli import main
from stratify.config import load_config
from stratify.errors import ConfigError

NOTE = " ".join(["met at the hub; lives with her sister now."] * 10)  # long enough to leave a freed cell


@pytest.fixture(scope="module")
def template_place(tmp_path_factory):
    root = tmp_path_factory.mktemp("app_notes")
    add_users(make_published_place(root))
    return root


def _place(template_place, tmp_path, retention: str = ""):
    shutil.copytree(template_place, tmp_path / "place", symlinks=True)
    yaml = tmp_path / "place" / "place.yaml"
    if retention:
        yaml.write_text(yaml.read_text(encoding="utf-8") + f"app:\n  note_retention_days: {retention}\n", encoding="utf-8")
    return load_config(yaml)


def _record(c, who: int, note: str, clock: Clock):
    page = c.get(f"/teams/NT01/people/{pid(who)}")
    r = c.post(f"/teams/NT01/people/{pid(who)}/outcome", data={"csrf_token": token(page.text), "outcome": "engaged",
                                                                 "event_date": clock.now.date().isoformat(), "note": note})
    assert r.status_code == 200
    return r


def _stored_notes(cfg) -> list:
    with open_db(cfg.app_database) as con:
        return [tuple(r) for r in con.execute("SELECT person_id, outcome, note FROM reviews ORDER BY review_id")]


def _database_bytes(cfg) -> bytes:
    return b"".join(p.read_bytes() for p in cfg.app_database.parent.glob(cfg.app_database.name + "*"))


def test_a_note_older_than_its_retention_is_removed_at_the_next_start_and_the_review_stays(template_place, tmp_path):
    cfg = _place(template_place, tmp_path)
    assert cfg.app_note_retention_days == 365  # the default
    clock = Clock()
    c = client(cfg, clock)
    log_in(c, "ann")
    assert NOTE in _record(c, 1, NOTE, clock).text
    clock.advance(days=364)
    c = client(cfg, clock)  # the server restarts: a note 364 days old is kept
    log_in(c, "ann")
    assert NOTE in c.get(f"/teams/NT01/people/{pid(1)}").text
    clock.advance(days=2)
    c = client(cfg, clock)
    log_in(c, "ann")
    page = c.get(f"/teams/NT01/people/{pid(1)}").text
    assert NOTE not in page and "engaged" in page and "ann" in page  # the decision on record stays, its note goes
    assert _stored_notes(cfg) == [(pid(1), "engaged", None)]
    assert NOTE.encode() not in _database_bytes(cfg)  # not left in free pages or the WAL either
    purged = [r for r in audit_rows(cfg) if r["action"] == "purge_notes"]
    assert len(purged) == 1 and purged[0]["user_name"] == "(retention)"
    assert purged[0]["detail"].startswith("1 note recorded before 2026-11-22 removed (app.note_retention_days = 365)")
    assert main(["audit", "verify", "--config", str(cfg.path)]) == 0  # the chain holds across the purge


def test_a_running_server_removes_notes_hourly_and_when_it_records(template_place, tmp_path):
    cfg = _place(template_place, tmp_path, retention="30")
    clock = Clock()
    c = client(cfg, clock)
    log_in(c, "ann")
    _record(c, 1, "first note", clock)
    clock.advance(days=31)  # the same server, still running: the hour's first request purges
    log_in(c, "ann")
    assert "first note" not in c.get(f"/teams/NT01/people/{pid(1)}").text
    _record(c, 2, "second note", clock)
    clock.advance(days=30, minutes=-10)
    log_in(c, "ann")
    c.get("/teams/NT01")  # the hourly purge: the second note is not 30 days old yet
    clock.advance(minutes=20)  # now it is, and the next hourly purge is 40 minutes away...
    assert [n for _, _, n in _stored_notes(cfg)] == [None, "second note"]
    _record(c, 3, "third note", clock)  # ...but recording purges too
    assert [n for _, _, n in _stored_notes(cfg)] == [None, None, "third note"]


def test_stratify_purge_removes_the_apps_expired_notes_and_a_dry_run_only_counts(template_place, tmp_path, capsys):
    cfg = _place(template_place, tmp_path, retention="1")
    clock = Clock(datetime.now(UTC) - timedelta(days=2))  # `stratify purge` goes by the real clock
    c = client(cfg, clock)
    log_in(c, "ann")
    _record(c, 1, "old note", clock)
    capsys.readouterr()
    assert main(["purge", "--config", str(cfg.path), "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out)["app_notes"]
    assert dry["would_remove"] == 1 and dry["removed"] == 0 and _stored_notes(cfg)[0][2] == "old note"
    assert main(["purge", "--config", str(cfg.path)]) == 0
    done = json.loads(capsys.readouterr().out)["app_notes"]
    assert done["removed"] == 1 and done["retention_days"] == 1 and _stored_notes(cfg)[0][2] is None
    assert main(["purge", "--config", str(cfg.path)]) == 0
    assert json.loads(capsys.readouterr().out)["app_notes"]["removed"] == 0  # twice removes nothing more


def test_the_retention_is_checked_when_the_configuration_is_loaded(template_place, tmp_path):
    for bad in ("0", "'a year'", "-5"):
        with pytest.raises(ConfigError, match="note_retention_days"):
            _place(template_place, tmp_path / bad.strip("'-"), retention=bad)
    assert timedelta(days=_place(template_place, tmp_path / "ok", retention="90").app_note_retention_days).days == 90
