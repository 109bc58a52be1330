"""`stratify users demo` (what `make demo` runs): a lead per team and one user per other role, passwords owner-only."""

from __future__ import annotations

import re
import stat
from datetime import UTC, datetime
from pathlib import Path

from helpers import write_place
from stratify.app import users
from stratify.app.store import migrate, open_db
from stratify.cli import main

MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"


def _accounts(path: Path) -> dict[str, tuple[str, str, str]]:
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    return {name: (role, team, password) for name, role, team, password in rows}


def _signs_in(cfg, name: str, password: str) -> bool:
    with open_db(cfg.app_database) as con:
        try:
            users.authenticate(con, name, password, datetime.now(UTC))
            return True
        except users.UserError:
            return False


def test_demo_users_are_made_once_reset_on_a_second_run_and_written_owner_only(tmp_path, capsys):
    cfg = write_place(tmp_path, teams={"E01000001": "NT01", "E01000002": "NT02", "E01000003": "NT03"})
    migrate(cfg.app_database)
    with open_db(cfg.app_database) as con:  # somebody's own account: never touched by the demo
        users.add_user(con, "ann", "team_lead", "NT01", "ann's own long password", cfg.teams, datetime.now(UTC))
    out = tmp_path / "data" / "app_users.txt"
    args = ["users", "demo", "--config", str(cfg.path), "--to", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "6 demo accounts (6 added, 0 reset" in printed
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    first = _accounts(out)
    assert {n: (r, t) for n, (r, t, _) in first.items()} == {
        "lead.nt01": ("team_lead", "NT01"), "lead.nt02": ("team_lead", "NT02"), "lead.nt03": ("team_lead", "NT03"),
        "ig.auditor": ("ig_auditor", "-"), "place.lead": ("place_lead", "-"), "data.team": ("data_team", "-")}
    for name, (_, _, password) in first.items():
        assert len(password) >= 20 and password not in printed  # the terminal never shows a password
        assert _signs_in(cfg, name, password)
    assert "http://127.0.0.1:8000/login" in out.read_text(encoding="utf-8")

    assert main(args) == 0  # make demo again: the same accounts, new passwords, the file rewritten
    assert "(0 added, 6 reset" in capsys.readouterr().out
    second = _accounts(out)
    assert set(second) == set(first) and stat.S_IMODE(out.stat().st_mode) == 0o600
    for name in first:
        assert first[name][2] != second[name][2]
        assert not _signs_in(cfg, name, first[name][2]) and _signs_in(cfg, name, second[name][2])
    assert _signs_in(cfg, "ann", "ann's own long password")
    assert not list(out.parent.glob(".*tmp"))  # no temporary file left beside it


def test_a_demo_name_taken_by_another_role_changes_nothing(tmp_path, capsys):
    cfg = write_place(tmp_path)
    migrate(cfg.app_database)
    with open_db(cfg.app_database) as con:
        users.add_user(con, "ig.auditor", "team_member", "NT02", "a password of its own", cfg.teams, datetime.now(UTC))
    out = tmp_path / "app_users.txt"
    assert main(["users", "demo", "--config", str(cfg.path), "--to", str(out)]) == 2
    assert "ig.auditor exists as team_member of NT02" in capsys.readouterr().err
    assert not out.exists() and _signs_in(cfg, "ig.auditor", "a password of its own")
    with open_db(cfg.app_database) as con:
        assert users.get_user(con, "lead.nt01") is None  # checked before anything changed


def test_make_demo_creates_the_demo_users_into_a_gitignored_file():
    recipe = MAKEFILE.read_text(encoding="utf-8").split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"stratify users demo --config \$\(DEMO_CONFIG\) --to \$\(DEMO_USERS\)", recipe), recipe
    assert "DEMO_USERS := data/demo/app_users.txt" in MAKEFILE.read_text(encoding="utf-8")
    gitignore = (MAKEFILE.parent / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "data/" in gitignore


def test_demo_accounts_name_every_configured_team(tmp_path):
    from stratify.app.demo_users import demo_accounts

    cfg = write_place(tmp_path)
    assert [a for a in demo_accounts(cfg) if a[1] == "team_lead"] == [("lead.nt01", "team_lead", "NT01"),
                                                                      ("lead.nt02", "team_lead", "NT02")]
