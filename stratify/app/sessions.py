"""Sessions: a signed cookie naming a server-side session, 30 idle minutes, and its anti-forgery token.

The cookie holds only a random session id, signed with the app's own key
(itsdangerous; the key is made once and kept in the app database). It is
HttpOnly and SameSite=Strict, and Secure when the app is behind TLS. The
session row holds the user, the anti-forgery token every form carries, and
when it was last used: a session idle for `IDLE` is gone, as is every
session of a disabled or reset account. The log-in form, before any
session, carries a signed token of its own (`login_token`).
"""

from __future__ import annotations

import hmac
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from stratify.app.store import iso, parse_iso, transaction
from stratify.app.users import User

COOKIE = "stratify_session"
IDLE = timedelta(minutes=30)
LOGIN_FORM_LIFETIME = timedelta(minutes=30)


@dataclass(frozen=True)
class Session:
    session_id: str
    user: User
    csrf_token: str


def app_key(con: sqlite3.Connection) -> str:
    """The app's signing key: made once, kept in the app database (owner-only), never shown."""
    with transaction(con):
        row = con.execute("SELECT key FROM app_secret WHERE id = 1").fetchone()
        if row:
            return row[0]
        key = secrets.token_urlsafe(48)
        con.execute("INSERT INTO app_secret (id, key) VALUES (1, ?)", [key])
        return key


def _signer(key: str, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt=f"stratify.app.{purpose}")


def start_session(con: sqlite3.Connection, key: str, user: User, now: datetime) -> tuple[str, Session]:
    """A new session for `user`: (the cookie's value, the session)."""
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with transaction(con):
        con.execute("DELETE FROM sessions WHERE last_seen < ?", [iso(now - IDLE)])  # tidy expired ones
        con.execute("INSERT INTO sessions (session_id, user_name, csrf_token, created_at, last_seen) "
                    "VALUES (?, ?, ?, ?, ?)", [sid, user.name, csrf, iso(now), iso(now)])
    return _signer(key, "session").dumps(sid), Session(sid, user, csrf)


def load_session(con: sqlite3.Connection, key: str, cookie: str | None, now: datetime) -> Session | None:
    """The live session a cookie names (its idle clock restarted), or None: unsigned, unknown, idle, disabled."""
    if not cookie:
        return None
    try:
        sid = _signer(key, "session").loads(cookie)
    except BadSignature:
        return None
    row = con.execute("SELECT s.session_id, s.csrf_token, s.last_seen, u.user_name, u.role, u.team, u.disabled "
                      "FROM sessions s JOIN users u USING (user_name) WHERE s.session_id = ?", [sid]).fetchone()
    if row is None or row["disabled"]:
        return None
    if parse_iso(row["last_seen"]) + IDLE <= now:
        end_session(con, sid)
        return None
    con.execute("UPDATE sessions SET last_seen = ? WHERE session_id = ?", [iso(now), sid])
    user = User(row["user_name"], row["role"], row["team"], False)
    return Session(sid, user, row["csrf_token"])


def end_session(con: sqlite3.Connection, session_id: str) -> None:
    con.execute("DELETE FROM sessions WHERE session_id = ?", [session_id])


def same_token(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())


def login_token(key: str) -> str:
    """The log-in form's anti-forgery token (signed, timed; the form has no session yet)."""
    return _signer(key, "login").dumps(secrets.token_urlsafe(16))


def login_token_ok(key: str, token: str | None) -> bool:
    if not token:
        return False
    try:
        _signer(key, "login").loads(token, max_age=int(LOGIN_FORM_LIFETIME.total_seconds()))
    except (BadSignature, SignatureExpired):
        return False
    return True
