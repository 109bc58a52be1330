"""Who an identity provider's ID token makes a user of the app: role and team from its claims, and their account.

`map_claims` reads the claims `app.oidc` names: the role claim's values
must map to exactly one stratify role, and for a team role the team claim's
values to exactly one of the place's teams (through `app.oidc.teams`, or
as the team code itself). `admit` links the provider's (issuer, subject) to
one row of `users`, made at the first sign-in with no local password (its
`password_hash` is no argon2 hash, so the password form never lets it in),
and brings its role and team up to date from the claims on every sign-in.
A user name already taken by a local account or another identity is
refused, as is an account disabled with `stratify users disable`.
Every refusal is an `OidcRefused` whose message is the audit log's detail.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

from stratify.app.store import iso, transaction
from stratify.app.users import ROLES, TEAM_ROLES, User, UserError, check_name
from stratify.config import PlaceConfig
from stratify.config.oidc import OidcConfig
from stratify.errors import ConfigError

SCHEMA = Path(__file__).with_name("sql") / "oidc.sql"
NO_LOCAL_PASSWORD = "!oidc: signs in through the identity provider; no local password"
MAX_SUBJECT = 255  # OpenID Connect Core 1.0, 2: `sub` is at most 255 ASCII characters
MAX_SHOWN = 5  # claim values quoted in a refusal's detail


class OidcRefused(Exception):
    """The provider vouched for someone this app does not admit; the message says why (for the audit log)."""


def migrate(con: sqlite3.Connection) -> None:
    con.executescript(SCHEMA.read_text(encoding="utf-8"))


def client_secret(cfg: PlaceConfig) -> str:
    """The client secret from where `app.oidc` says it is (read when the app starts, never logged)."""
    oidc = cfg.app_oidc
    assert oidc is not None
    if oidc.client_secret_env:
        secret = (os.environ.get(oidc.client_secret_env) or "").strip()
        if not secret:
            raise ConfigError(f"app.oidc.client_secret_env: the environment variable {oidc.client_secret_env} is "
                              f"not set: set it to the client secret the identity provider issued for "
                              f"{oidc.client_id} (it never goes in the configuration file)")
        return secret
    path = Path(oidc.client_secret_file or "")
    try:
        mode = path.stat().st_mode
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"app.oidc.client_secret_file: {path} cannot be read ({type(exc).__name__}); it must "
                          "hold the client secret the identity provider issued, alone") from None
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        raise ConfigError(f"app.oidc.client_secret_file: {path} is readable or writable by every user of this "
                          f"machine: `chmod o-rw {path}`")
    if not secret:
        raise ConfigError(f"app.oidc.client_secret_file: {path} is empty; it must hold the client secret")
    return secret


def claim_values(claims: dict[str, Any], name: str) -> list[str]:
    """A claim's values: a text is one value, a list its texts; anything else none."""
    value = claims.get(name)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _quoted(values: list[str]) -> str:
    if not values:
        return "none"
    shown = [v[:60] if v.isprintable() else "(a value with invisible characters)" for v in values[:MAX_SHOWN]]
    return ", ".join(shown) + (f" and {len(values) - MAX_SHOWN} more" if len(values) > MAX_SHOWN else "")


def map_claims(claims: dict[str, Any], oidc: OidcConfig, place_teams: tuple[str, ...]) -> tuple[str, str | None]:
    """(role, team) by `app.oidc`'s mapping; `OidcRefused` for no role, two roles, or no (or two) known teams."""
    values = claim_values(claims, oidc.role_claim)
    roles = sorted({oidc.roles[v] for v in values if v in oidc.roles}, key=ROLES.index)
    if not roles:
        raise OidcRefused(f"no mapped role: no value of the claim {oidc.role_claim} maps to a stratify role "
                          f"(its values: {_quoted(values)})")
    if len(roles) > 1:
        raise OidcRefused(f"more than one role: the claim {oidc.role_claim} maps to {', '.join(roles)}; "
                          "map one role per person")
    role = roles[0]
    if role not in TEAM_ROLES:
        return role, None
    raw = claim_values(claims, oidc.team_claim)
    if oidc.teams is not None:
        named = sorted({oidc.teams[v] for v in raw if v in oidc.teams})
        unknown = [t for t in named if t not in place_teams]
        if unknown:
            raise OidcRefused(f"unknown team: the claim {oidc.team_claim} maps to {', '.join(unknown)}, not a team "
                              f"of this place ({', '.join(place_teams[:20])})")
    else:
        named = sorted(v for v in set(raw) if v in place_teams)
    if not named:
        raise OidcRefused(f"unknown team: a {role} needs a team, and no value of the claim {oidc.team_claim} "
                          f"{'maps to' if oidc.teams is not None else 'is'} one of this place's teams "
                          f"(its values: {_quoted(raw)})")
    if len(named) > 1:
        raise OidcRefused(f"more than one team: the claim {oidc.team_claim} names {', '.join(named)}; "
                          "a team member belongs to one team")
    return role, named[0]


def user_name(claims: dict[str, Any], oidc: OidcConfig) -> str:
    """The app's user name for the token: its `username_claim`, as a local user name would be checked."""
    value = claims.get(oidc.username_claim)
    if not isinstance(value, str):
        raise OidcRefused(f"the ID token has no claim {oidc.username_claim} (the user name) as text")
    try:
        return check_name(value)
    except UserError as exc:
        raise OidcRefused(f"the claim {oidc.username_claim} is not a usable user name: {exc}") from None


def subject(claims: dict[str, Any]) -> str:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 1 <= len(sub) <= MAX_SUBJECT or not sub.isprintable():
        raise OidcRefused("the ID token's sub claim is missing or malformed")
    return sub


def admit(con: sqlite3.Connection, issuer: str, sub: str, name: str, role: str, team: str | None,
          now: datetime) -> User:
    """The account linked to (issuer, sub), made at the first sign-in, with the claims' role and team."""
    with transaction(con):
        linked = con.execute("SELECT user_name FROM oidc_accounts WHERE issuer = ? AND subject = ?",
                             [issuer, sub]).fetchone()
        if linked is None:
            if con.execute("SELECT 1 FROM users WHERE user_name = ?", [name]).fetchone():
                raise OidcRefused(f"the user name {name} is already another account of this app (a local one, "
                                  "or another identity's); the identity provider's user is not let into it")
            con.execute("INSERT INTO users (user_name, role, team, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                        [name, role, team, NO_LOCAL_PASSWORD, iso(now)])
            con.execute("INSERT INTO oidc_accounts (issuer, subject, user_name, first_seen, last_seen) "
                        "VALUES (?, ?, ?, ?, ?)", [issuer, sub, name, iso(now), iso(now)])
        else:
            name = linked["user_name"]
            if con.execute("SELECT disabled FROM users WHERE user_name = ?", [name]).fetchone()["disabled"]:
                raise OidcRefused(f"the account {name} is disabled in this app (`stratify users disable`)")
            con.execute("UPDATE users SET role = ?, team = ? WHERE user_name = ?", [role, team, name])
            con.execute("UPDATE oidc_accounts SET last_seen = ? WHERE issuer = ? AND subject = ?",
                        [iso(now), issuer, sub])
    return User(name, role, team, False)
