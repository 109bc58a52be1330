"""The app's accounts: roles, teams, argon2id passwords, disabling, resetting and the log-in lock-out.

Roles: `team_lead` and `team_member` see their own team only; `place_lead`
the overview (aggregates, suppressed); `ig_auditor` the validation page and
the access log; `data_team` run status. Nobody but a team's own members sees
a person. Ten failed log-ins in a row lock an account for 15 minutes; a
locked, disabled or unknown account is refused with the same words, and an
unknown name still costs one argon2 verification (no timing tells them apart).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from stratify.access.reidentify import MAX_USER, USER_RE
from stratify.app.store import iso, parse_iso, transaction
from stratify.config.neighbourhoods import TEAM_RE

ROLES = ("team_lead", "team_member", "place_lead", "ig_auditor", "data_team")
TEAM_ROLES = ("team_lead", "team_member")
MAX_FAILED = 10
LOCK_FOR = timedelta(minutes=15)
MIN_PASSWORD = 12
MAX_PASSWORD = 1024

HASHER = PasswordHasher()  # argon2id, the library's RFC 9106 low-memory profile
_DUMMY_HASH = HASHER.hash("not a password of anybody")


class UserError(ValueError):
    """A user command or log-in was refused; the message says why (never echoing a password)."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    team: str | None
    disabled: bool

    @property
    def sees_people(self) -> bool:
        return self.role in TEAM_ROLES


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > MAX_USER or not USER_RE.fullmatch(name) or "  " in name:
        raise UserError(f"a user name is at most {MAX_USER} characters: letters, digits, single spaces and "
                        ". ' _ @ - only, starting with a letter")
    return name


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD or not password.isprintable() or not password.strip():
        raise UserError(f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} printable characters (not shown)")
    return password


def check_role_team(role: str, team: str | None, teams: tuple[str, ...]) -> str | None:
    if role not in ROLES:
        raise UserError(f"--role must be one of {', '.join(ROLES)}")
    if role in TEAM_ROLES:
        if not team:
            raise UserError(f"a {role} needs --team (one of {', '.join(teams) or 'the neighbourhoods file teams'})")
        if not TEAM_RE.match(team) or (teams and team not in teams):
            raise UserError(f"--team must be a team of the neighbourhoods file ({', '.join(teams)})")
        return team
    if team:
        raise UserError(f"a {role} belongs to no team: leave out --team")
    return None


def _user(row: sqlite3.Row) -> User:
    return User(row["user_name"], row["role"], row["team"], bool(row["disabled"]))


def add_user(con: sqlite3.Connection, name: str, role: str, team: str | None, password: str,
             teams: tuple[str, ...], now: datetime) -> User:
    name, team = check_name(name), check_role_team(role, team, teams)
    hashed = HASHER.hash(check_password(password))
    with transaction(con):
        if con.execute("SELECT 1 FROM users WHERE user_name = ?", [name]).fetchone():
            raise UserError(f"user {name} already exists (use `stratify users reset` for a new password)")
        con.execute("INSERT INTO users (user_name, role, team, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                    [name, role, team, hashed, iso(now)])
    return User(name, role, team, False)


def list_users(con: sqlite3.Connection) -> list[dict]:
    rows = con.execute("SELECT user_name, role, team, disabled, locked_until, created_at FROM users "
                       "ORDER BY user_name").fetchall()
    return [dict(r) for r in rows]


def get_user(con: sqlite3.Connection, name: str) -> User | None:
    row = con.execute("SELECT * FROM users WHERE user_name = ?", [name]).fetchone()
    return _user(row) if row else None


def team_members(con: sqlite3.Connection, team: str) -> list[str]:
    """The enabled users of a team: who may be a person's key worker."""
    return [r[0] for r in con.execute("SELECT user_name FROM users WHERE team = ? AND disabled = 0 "
                                      "ORDER BY user_name", [team])]


def _must_exist(con: sqlite3.Connection, name: str) -> None:
    if not con.execute("SELECT 1 FROM users WHERE user_name = ?", [name]).fetchone():
        raise UserError(f"no user {name}")


def disable_user(con: sqlite3.Connection, name: str) -> None:
    """Refuse the user's log-ins from now on and end their sessions."""
    with transaction(con):
        _must_exist(con, name)
        con.execute("UPDATE users SET disabled = 1 WHERE user_name = ?", [name])
        con.execute("DELETE FROM sessions WHERE user_name = ?", [name])


def reset_user(con: sqlite3.Connection, name: str, password: str) -> None:
    """A new password: the account enabled and unlocked again, its sessions ended."""
    hashed = HASHER.hash(check_password(password))
    with transaction(con):
        _must_exist(con, name)
        con.execute("UPDATE users SET password_hash = ?, disabled = 0, failed_logins = 0, locked_until = NULL "
                    "WHERE user_name = ?", [hashed, name])
        con.execute("DELETE FROM sessions WHERE user_name = ?", [name])


REFUSED = "the user name or password is wrong, or the account is locked or disabled"


def authenticate(con: sqlite3.Connection, name: str, password: str, now: datetime) -> User:
    """The user, if the password is right and the account usable; `UserError(REFUSED)` otherwise.

    A wrong password counts towards the lock-out; the tenth in a row locks
    the account for `LOCK_FOR` (a right password while locked is refused too).
    """
    row = con.execute("SELECT * FROM users WHERE user_name = ?", [(name or "").strip()]).fetchone()
    if row is None:
        _verify(_DUMMY_HASH, password)
        raise UserError(REFUSED)
    locked = row["locked_until"] and parse_iso(row["locked_until"]) > now
    if row["disabled"] or locked:
        _verify(_DUMMY_HASH, password)
        raise UserError(REFUSED)
    if not _verify(row["password_hash"], password):
        with transaction(con):
            failed = con.execute("UPDATE users SET failed_logins = failed_logins + 1 WHERE user_name = ? "
                                 "RETURNING failed_logins", [row["user_name"]]).fetchone()[0]
            if failed >= MAX_FAILED:
                con.execute("UPDATE users SET failed_logins = 0, locked_until = ? WHERE user_name = ?",
                            [iso(now + LOCK_FOR), row["user_name"]])
        raise UserError(REFUSED)
    with transaction(con):
        con.execute("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE user_name = ?", [row["user_name"]])
        if HASHER.check_needs_rehash(row["password_hash"]):
            con.execute("UPDATE users SET password_hash = ? WHERE user_name = ?",
                        [HASHER.hash(password), row["user_name"]])
    return _user(row)


def _verify(hashed: str, password: str) -> bool:
    try:
        return HASHER.verify(hashed, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
