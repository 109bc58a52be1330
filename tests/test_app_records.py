"""Recording outcomes (the delivery file, the review on record) and the audit chain (`stratify audit verify`)."""

from __future__ import annotations

import csv
import html
import io
import re
import shutil
import sqlite3

import pytest
from app_place import Clock, add_users, audit_rows, client, log_in, make_published_place, token

from helpers import pid
from stratify.app.outcomes import TAKES_EFFECT
from stratify.cli import main
from stratify.config import load_config
from stratify.contract import load_contract


@pytest.fixture(scope="module")
def template_place(tmp_path_factory):
    root = tmp_path_factory.mktemp("app_records")
    add_users(make_published_place(root))
    return root


@pytest.fixture
def place(template_place, tmp_path):
    shutil.copytree(template_place, tmp_path / "place", symlinks=True)
    cfg = load_config(tmp_path / "place" / "place.yaml")
    clock = Clock()
    c = client(cfg, clock)
    log_in(c, "ann")
    return cfg, c


def record(c, who: int, **fields):
    page = c.get(f"/teams/NT01/people/{pid(who)}")
    data = {"csrf_token": token(page.text), "outcome": "engaged", "event_date": "2026-11-21", **fields}
    return c.post(f"/teams/NT01/people/{pid(who)}/outcome", data=data)


def test_an_outcome_is_a_contract_delivery_and_a_review_on_record(place):
    cfg, c = place
    r = record(c, 1, key_worker="bob", note="met at the <b>hub</b>")
    assert r.status_code == 200 and TAKES_EFFECT in html.unescape(r.text).lower()
    assert "met at the &lt;b&gt;hub&lt;/b&gt;" in r.text and "bob" in r.text  # on the person's history
    files = sorted((cfg.landing / "outcomes").iterdir())
    assert [f.name for f in files] == ["outcomes_20261121_1.csv"]  # no temporary file left behind
    assert load_contract().parse_file_name(files[0].name).source == "outcomes"
    rows = list(csv.DictReader(files[0].open(encoding="utf-8")))
    assert list(rows[0]) == ["record_id", "person_id", "team", "event_date", "outcome"]  # never the note or key worker
    assert rows[0]["person_id"] == pid(1) and rows[0]["outcome"] == "engaged" and rows[0]["team"] == "NT01"
    record(c, 2, outcome="declined")
    assert sorted(f.name for f in (cfg.landing / "outcomes").iterdir()) == ["outcomes_20261121_1.csv",
                                                                            "outcomes_20261121_2.csv"]
    listed = c.get("/teams/NT01").text
    assert "engaged by ann" in listed and "declined by ann" in listed  # who reviewed each person, and when
    kinds = [(a["action"], a["allowed"]) for a in audit_rows(cfg)]
    assert kinds.count(("record_outcome", 1)) == 2 and kinds.count(("view_person", 1)) >= 2


@pytest.mark.parametrize("fields, why", [
    ({"outcome": "cured"}, "outcome must be one of"), ({"event_date": "2026-11-30"}, "the date must be between"),
    ({"event_date": "yesterday"}, "must be a date"), ({"key_worker": "nia"}, "member of the team"),
    ({"note": "x" * 501}, "at most 500"),
])
def test_a_bad_form_records_nothing_and_says_why(place, fields, why):
    cfg, c = place
    r = record(c, 1, **fields)
    assert r.status_code == 400 and why in r.text
    assert not (cfg.landing / "outcomes").exists() or not any((cfg.landing / "outcomes").iterdir())


def test_audit_verify_passes_then_names_the_first_altered_row(place, capsys):
    cfg, c = place
    c.get("/teams/NT01")
    c.get(f"/teams/NT01/people/{pid(2)}")
    c.get("/teams/NT02")
    assert main(["audit", "verify", "--config", str(cfg.path)]) == 0
    assert "audit chain intact" in capsys.readouterr().out
    con = sqlite3.connect(cfg.app_database)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE audit SET allowed = 1 WHERE seq = 4")
    # someone with the file drops the trigger and rewrites the refusal as allowed
    con.execute("DROP TRIGGER audit_no_update")
    con.execute("UPDATE audit SET allowed = 1 WHERE seq = 4")
    con.commit()
    con.close()
    assert main(["audit", "verify", "--config", str(cfg.path)]) == 1
    err = capsys.readouterr().err
    assert "broken at row 4" in err and "altered" in err


def test_audit_verify_names_a_removed_row(place, capsys):
    cfg, c = place
    for _ in range(3):
        c.get("/teams/NT01")
    con = sqlite3.connect(cfg.app_database)
    con.execute("DROP TRIGGER audit_no_delete")
    con.execute("DELETE FROM audit WHERE seq = 2")
    con.commit()
    con.close()
    assert main(["audit", "verify", "--config", str(cfg.path)]) == 1
    assert "broken at row 3" in capsys.readouterr().err


def test_ig_page_shows_the_log_with_filters(place):
    cfg, c = place
    c.get("/teams/NT02")  # refused, logged
    c.cookies.clear()
    log_in(c, "iggy")
    page = c.get("/ig/audit?allowed=0&user_name=ann").text
    assert "chain intact" in page and "REFUSED" in page and "list NT02" in page and "view_list" in page
    assert "yes</td>" not in page
    assert "list NT02" not in c.get("/ig/audit?allowed=1").text


def test_users_command_adds_lists_disables_and_resets(place, capsys, monkeypatch):
    import io

    cfg, c = place
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["users", "add", "--config", str(cfg.path), "--user", "Cy Member", "--role", "team_member",
                 "--team", "NT02", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["users", "add", "--config", str(cfg.path), "--user", "Di", "--role", "team_lead",
                 "--password-stdin"]) == 2  # a team lead needs a team
    assert "needs --team" in capsys.readouterr().err
    assert main(["users", "disable", "--config", str(cfg.path), "--user", "ann"]) == 0
    assert c.get("/teams/NT01", follow_redirects=False).status_code == 303  # her session ended at once
    assert log_in(c, "ann").headers["location"] == "/login?failed=1"
    monkeypatch.setattr("sys.stdin", io.StringIO("another long password\n"))
    assert main(["users", "reset", "--config", str(cfg.path), "--user", "ann", "--password-stdin"]) == 0
    assert log_in(c, "ann", "another long password").headers["location"] == "/"
    capsys.readouterr()
    assert main(["users", "list", "--config", str(cfg.path)]) == 0
    out = capsys.readouterr().out
    assert "Cy Member\tteam_member\tNT02\tactive" in out and "password" not in out


def test_app_database_defaults_beside_the_warehouse_and_is_checked(tmp_path):
    from helpers import write_place
    from stratify.errors import ConfigError

    cfg = write_place(tmp_path)
    assert cfg.app_database == cfg.warehouse.parent / "app.sqlite"
    assert write_place(tmp_path, extra="app:\n  database: state/app.db\n").app_database == tmp_path.resolve() / "state" / "app.db"
    with pytest.raises(ConfigError, match="app: unknown key.s. databse"):
        write_place(tmp_path, extra="app:\n  databse: x.db\n")


def test_ig_exports_the_filtered_log_as_csv_and_the_export_is_logged(place):
    cfg, c = place
    c.get("/teams/NT02")
    c.cookies.clear()
    log_in(c, "iggy")
    page = c.get("/ig/audit?allowed=0&user_name=ann%20x").text
    assert "audit.csv?user_name=ann+x&amp;allowed=0" in page
    page = c.get("/ig/audit?allowed=0").text
    link = re.search(r'href="(/ig/audit\.csv[^"]*)"', page).group(1)
    r = c.get(html.unescape(link))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows and all(row["allowed"] == "0" for row in rows) and any(row["target"] == "list NT02" for row in rows)
    assert audit_rows(cfg)[-1]["action"] == "export_audit"


def test_a_review_kept_but_never_delivered_is_delivered_when_the_app_starts(place):
    """A server stopped between keeping a review and writing its file: the next start writes it."""
    cfg, c = place
    with sqlite3.connect(cfg.app_database) as con:
        con.execute("INSERT INTO reviews (record_id, person_id, team, outcome, event_date, reviewed_by, reviewed_at, "
                    "run_id) VALUES ('app-x1', ?, 'NT01', 'declined', '2026-11-21', 'ann', '2026-11-21T08:00', 'r')",
                    [pid(2)])
    client(cfg, Clock())
    files = list((cfg.landing / "outcomes").iterdir())
    assert [f.name for f in files] == ["outcomes_20261121_1.csv"] and "app-x1" in files[0].read_text()
    with sqlite3.connect(cfg.app_database) as con:
        assert con.execute("SELECT delivery FROM reviews WHERE record_id = 'app-x1'").fetchone()[0] == files[0].name


def test_the_cookie_is_secure_behind_tls(template_place, tmp_path):
    shutil.copytree(template_place, tmp_path / "place", symlinks=True)
    cfg = load_config(tmp_path / "place" / "place.yaml")
    from fastapi.testclient import TestClient

    from stratify.app.web import create_app

    c = TestClient(create_app(cfg, clock=Clock()), base_url="https://stratify.example")
    r = log_in(c, "ann")
    assert r.headers["location"] == "/" and "Secure" in r.headers["set-cookie"]
    assert "max-age" in c.get("/teams/NT01").headers["strict-transport-security"]
