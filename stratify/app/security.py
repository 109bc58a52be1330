"""What every response carries and who may see what: headers, and the rules the routes ask.

Every response: a Content-Security-Policy with no scripts at all (no inline
script, no eval), styles from the app only, `frame-ancestors 'none'`;
`Cache-Control: no-store` (pages name people); no referrer; no sniffing.
A team's pages are for its own `team_lead`s and `team_member`s only; for
anyone else they do not exist (404), and the attempt is logged.
"""

from __future__ import annotations

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response

from stratify.app.users import TEAM_ROLES, User

CSP = ("default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
# The published pages (overview, validation) are self-contained: their own <style> blocks, never a script.
CSP_PUBLISHED_PAGE = ("default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                      "form-action 'none'; base-uri 'none'; frame-ancestors 'none'")

HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        for k, v in HEADERS.items():
            response.headers.setdefault(k, v)
        if request.url.scheme == "https":
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response


def may_see_team(user: User, team: str) -> bool:
    return user.role in TEAM_ROLES and user.team == team


ROLE_PAGES = {
    "team_lead": "team", "team_member": "team", "place_lead": "overview", "ig_auditor": "ig", "data_team": "status",
}


def may_see(user: User, page: str) -> bool:
    """Whether the role has the page: `overview` (place leads), `ig` (IG auditors), `status` (data team)."""
    return ROLE_PAGES.get(user.role) == page
