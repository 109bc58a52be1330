"""Signing in through the place's OpenID Connect identity provider (`app.oidc`), beside the local accounts.

`register(app, cfg, key, clock)` adds two routes, with Authlib's Starlette
client (`authlib.integrations.starlette_client.OAuth`) doing the protocol:

- `GET /login/oidc` discovers the provider (`<issuer>/.well-known/openid-configuration`,
  whose `issuer` must be the configured one) and starts the authorization
  code flow with PKCE (S256), a `state` and a `nonce`. What the callback
  needs to check them (and the code verifier) is kept in a signed cookie,
  `stratify_oidc`, for 10 minutes, sent only to `/auth/`: HttpOnly, and
  SameSite=Lax because the provider's redirect back is a cross-site
  navigation (the session cookie, Strict, would not come with it).
- `GET /auth/callback` finishes it: Authlib checks the state against that
  cookie (a missing, forged or replayed one is refused), exchanges the code
  with the client secret and the verifier, and validates the ID token
  (signature by the provider's published keys, issuer, audience, expiry,
  nonce, `at_hash`). Its claims give the role and team (`oidc_accounts`);
  the user gets the same server-side session and cookie as a local user
  (`sessions.start_session`), so the same team isolation, idle expiry and
  anti-forgery tokens. The answer is a short page that moves on to `/` by
  itself, a navigation from the app's own page, so the Strict cookie goes
  with it.

Every sign-in, admitted or refused, is a `login` row of the audit log;
a refusal (no mapped role, unknown team, bad state, a token that does not
validate, the provider saying no) is a 403 page, an unreachable provider a
503. The local password form stays as it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.starlette_client import OAuth
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc.errors import JoseError
from starlette.concurrency import run_in_threadpool

from stratify.app import audit, oidc_accounts, pages
from stratify.app.oidc_accounts import OidcRefused
from stratify.app.sessions import COOKIE, IDLE, start_session
from stratify.app.store import open_db
from stratify.config import PlaceConfig
from stratify.config.oidc import CALLBACK_PATH

try:  # Authlib's client talks through httpx2 when it is installed, else through httpx: catch what it raises
    import httpx2 as http  # type: ignore[import-not-found]
except ImportError:
    import httpx as http

START_PATH = "/login/oidc"
STATE_COOKIE = "stratify_oidc"
STATE_PATH = "/auth/"
STATE_LIFETIME = timedelta(minutes=10)
HTTP_TIMEOUT = 10.0  # seconds for each request to the provider (discovery, keys, token)
CLIENT = "idp"  # Authlib's name for the one registered provider


def provider_name(cfg: PlaceConfig) -> str | None:
    """The provider's name for the log-in page's "Sign in with ..." link; None without `app.oidc`."""
    return cfg.app_oidc.name if cfg.app_oidc else None


class _Provider:
    """The registered Authlib client, and the checks Authlib leaves to the app."""

    def __init__(self, cfg: PlaceConfig):
        oidc = cfg.app_oidc
        assert oidc is not None
        self.issuer = oidc.issuer
        oauth = OAuth()
        self.client = oauth.register(
            CLIENT, client_id=oidc.client_id, client_secret=oidc_accounts.client_secret(cfg),
            server_metadata_url=oidc.issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={"scope": " ".join(oidc.scopes), "code_challenge_method": "S256",
                           "token_endpoint_auth_method": "client_secret_basic", "timeout": HTTP_TIMEOUT})

    async def metadata(self) -> dict[str, Any]:
        """The discovery document, once it names the configured issuer (else `OidcRefused`)."""
        metadata = await self.client.load_server_metadata()
        if metadata.get("issuer") != self.issuer:
            self.client.server_metadata.clear()  # look again next time: a misconfiguration may be mended
            raise OidcRefused("the identity provider's discovery document names another issuer than app.oidc.issuer")
        return metadata


def register(app: FastAPI, cfg: PlaceConfig, key: str, clock: Callable[[], datetime]) -> None:
    """Add `/login/oidc` and `/auth/callback` to the app when `app.oidc` is configured (nothing otherwise)."""
    oidc = cfg.app_oidc
    if oidc is None:
        return
    db = cfg.app_database
    assert db is not None  # parse_config always sets it
    with open_db(db) as con:
        oidc_accounts.migrate(con)
    provider = _Provider(cfg)  # reads the client secret now: a missing one stops `stratify serve` at once
    signer = URLSafeTimedSerializer(key, salt="stratify.app.oidc.state")

    def message(status: int, title: str, text: str) -> HTMLResponse:
        return HTMLResponse(pages.render("message.html.j2", user=None, csrf_token="", place=cfg.place, title=title,
                                         message=text), status_code=status)

    def log(request: Request, now: datetime, allowed: bool, detail: str, user: str | None = None,
            role: str | None = None, team: str | None = None, target: str = CALLBACK_PATH) -> None:
        """One `login` row of the audit log (a connection of its own: called from the event loop's threads)."""
        with open_db(db) as con:
            audit.append(con, now=now, user=user, role=role, team=team, action="login", target=target,
                         client=request.client.host if request.client else None, allowed=allowed,
                         detail=f"OpenID Connect ({oidc.name}): {detail}"[:1000])

    def refusal(detail: str, vouched: bool) -> HTMLResponse:
        """The 403 page: `vouched` when the provider signed the person in and this app does not admit them."""
        response = message(403, "Not signed in",
                           f"{oidc.name} signed you in, but this app cannot let you in: {detail}. Ask the people "
                           "who run the app to check your role and team in the identity provider." if vouched else
                           f"The sign-in through {oidc.name} was refused: {detail}. Start again from the log-in page.")
        response.delete_cookie(STATE_COOKIE, path=STATE_PATH)
        return response

    async def refuse(request: Request, now: datetime, detail: str) -> Response:
        await run_in_threadpool(log, request, now, False, detail)
        return refusal(detail, vouched=False)

    async def unreachable(request: Request, now: datetime, exc: Exception, target: str) -> Response:
        await run_in_threadpool(log, request, now, False, f"the identity provider could not be reached "
                                f"({type(exc).__name__})", target=target)
        return message(503, "Sign-in unavailable", f"{oidc.name} cannot be reached just now; try again in a few "
                       "minutes, or sign in with your user name and password if you have one.")

    def redirect_uri(request: Request) -> str:
        return oidc.redirect_uri or str(request.url_for("oidc_callback"))

    @app.get(START_PATH)
    async def oidc_start(request: Request) -> Response:
        now = clock()
        state: dict[str, Any] = {}
        request.scope["session"] = state  # what Authlib keeps for the callback (it reads request.session)
        try:
            await provider.metadata()
            response = await provider.client.authorize_redirect(request, redirect_uri(request))
        except OidcRefused as exc:
            await run_in_threadpool(log, request, now, False, str(exc), target=START_PATH)
            return message(503, "Sign-in unavailable", f"{oidc.name} is not set up as this app expects: {exc}. "
                           "Tell the people who run the app.")
        except (http.HTTPError, ValueError) as exc:  # no answer, an error status, or no JSON document
            return await unreachable(request, now, exc, START_PATH)
        response.set_cookie(STATE_COOKIE, signer.dumps(json.dumps(state)),
                            max_age=int(STATE_LIFETIME.total_seconds()), path=STATE_PATH, httponly=True,
                            samesite="lax", secure=request.url.scheme == "https")
        return response

    @app.get(CALLBACK_PATH, name="oidc_callback")
    async def oidc_callback(request: Request) -> Response:
        now = clock()
        request.scope["session"] = _state(signer, request.cookies.get(STATE_COOKIE))
        try:
            metadata = await provider.metadata()
            iss = request.query_params.get("iss")  # RFC 9207: who sent this answer, when the provider says
            if iss is not None and iss != metadata["issuer"]:
                return await refuse(request, now, "the answer names another issuer (iss)")
            token = await provider.client.authorize_access_token(request)
        except OidcRefused as exc:
            return await refuse(request, now, str(exc))
        except (AuthlibBaseError, JoseError) as exc:  # bad state, the provider's error, a token that fails
            return await refuse(request, now, _why(exc))
        except (http.HTTPError, ValueError) as exc:
            return await unreachable(request, now, exc, CALLBACK_PATH)
        claims = token.get("userinfo")
        if not claims:
            return await refuse(request, now, "the provider sent no ID token (is openid among app.oidc.scopes?)")
        return await run_in_threadpool(sign_in, request, dict(claims), now)

    def sign_in(request: Request, claims: dict[str, Any], now: datetime) -> Response:
        """Claims -> role, team and account -> a session, as a local log-in; or a refusal, audited either way."""
        refused: OidcRefused | None = None
        with open_db(db) as con:
            try:
                sub = oidc_accounts.subject(claims)
                name = oidc_accounts.user_name(claims, oidc)
                role, team = oidc_accounts.map_claims(claims, oidc, cfg.teams)
                user = oidc_accounts.admit(con, provider.issuer, sub, name, role, team, now)
                cookie, _ = start_session(con, key, user, now)
            except OidcRefused as exc:
                refused = exc
        if refused is not None:
            log(request, now, False, str(refused), _who(claims, oidc.username_claim))
            return refusal(str(refused), vouched=True)
        log(request, now, True, f"subject {sub}", user.name, user.role, user.team)
        response = HTMLResponse(pages.render("oidc_signed_in.html.j2", user=user, place=cfg.place, provider=oidc.name))
        response.set_cookie(COOKIE, cookie, max_age=int(IDLE.total_seconds()), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        response.delete_cookie(STATE_COOKIE, path=STATE_PATH)
        return response


def _who(claims: dict[str, Any], username_claim: str) -> str | None:
    """Whom a refused sign-in names in the audit log: the user-name claim, else the subject (shortened)."""
    for value in (claims.get(username_claim), f"sub {claims['sub']}" if isinstance(claims.get("sub"), str) else None):
        if isinstance(value, str) and value.isprintable() and value.strip():
            return value[:100]
    return None

def _state(signer: URLSafeTimedSerializer, cookie: str | None) -> dict[str, Any]:
    """The flow's state from its cookie: empty when missing, forged or older than `STATE_LIFETIME`."""
    if not cookie:
        return {}
    try:
        value = json.loads(signer.loads(cookie, max_age=int(STATE_LIFETIME.total_seconds())))
    except (BadSignature, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _why(exc: Exception) -> str:
    """A refusal's reason from Authlib or joserfc, in a line (the provider's own words are short codes)."""
    error = getattr(exc, "error", None) or type(exc).__name__
    if error == "mismatching_state":
        return "the sign-in's state does not match the one this browser started (forged, replayed or expired)"
    description = getattr(exc, "description", None) or ""
    return f"{error}{': ' + str(description)[:200] if description else ''}"
