"""The demo place's accounts (`stratify users demo`, run by `make demo`): one per team's lead and one per other role.

A team lead per configured team (`lead.<team>`), an IG auditor
(`ig.auditor`), a place lead (`place.lead`) and a data-team member
(`data.team`), each with a new random password (`secrets`, 20 characters).
Run again, it resets the same accounts' passwords (enabled, unlocked, their
sessions ended) and rewrites the file, so the file always holds the
passwords that work; every other account is left alone. The passwords go
only into `to` (owner-only, 0o600, written beside it and renamed into
place), never to the terminal: the command prints the file's path.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from stratify.app import users
from stratify.config import PlaceConfig

PASSWORD_BYTES = 15  # 20 URL-safe characters


@dataclass(frozen=True)
class DemoUser:
    name: str
    role: str
    team: str | None
    password: str


def demo_accounts(cfg: PlaceConfig) -> list[tuple[str, str, str | None]]:
    """(user name, role, team) of the demo's accounts: a lead per team, then the roles without a team."""
    leads = [(f"lead.{team.lower()}", "team_lead", team) for team in sorted(cfg.teams)]
    return [*leads, ("ig.auditor", "ig_auditor", None), ("place.lead", "place_lead", None),
            ("data.team", "data_team", None)]


def ensure_demo_users(con: sqlite3.Connection, cfg: PlaceConfig, now: datetime) -> tuple[list[DemoUser], list[str]]:
    """Create or reset the demo accounts with new passwords; the accounts, and which of them existed (reset)."""
    wanted = demo_accounts(cfg)
    existing = {name: users.get_user(con, name) for name, _, _ in wanted}
    for name, role, team in wanted:  # checked before anything changes
        u = existing[name]
        if u is not None and (u.role, u.team) != (role, team):
            raise users.UserError(f"{name} exists as {u.role}{' of ' + u.team if u.team else ''}, not the demo's "
                                  f"{role}{' of ' + team if team else ''}; disable it or use another app database")
    made, reset = [], []
    for name, role, team in wanted:
        password = secrets.token_urlsafe(PASSWORD_BYTES)
        if existing[name] is None:
            users.add_user(con, name, role, team, password, cfg.teams, now)
        else:
            users.reset_user(con, name, password)
            reset.append(name)
        made.append(DemoUser(name, role, team, password))
    return made, reset


def write_passwords(path: Path, accounts: list[DemoUser], url: str) -> Path:
    """The accounts and their passwords, owner-only (0o600), replacing any earlier file in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# The demo's accounts for `stratify serve` (sign in at {url}). Owner-only; `make demo` rewrites it",
             "# with new passwords each time. user\trole\tteam\tpassword"]
    lines += [f"{a.name}\t{a.role}\t{a.team or '-'}\t{a.password}" for a in accounts]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)  # whatever the umask
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
