"""`app.oidc`: signing in to the web app through the place's OpenID Connect identity provider.

The section names the provider (`issuer`, discovered from
`<issuer>/.well-known/openid-configuration`), the client stratify is
registered as (`client_id`; the secret only by where it is:
`client_secret_env`, an environment variable's name, or `client_secret_file`,
never the secret itself), the scopes asked for, and which ID-token claims
carry the user name, the role and the team, with a mapping of claim values
to stratify's roles and to the place's teams. Without `teams`, the team
claim's value is the team code itself. The mapping is checked when the
configuration is loaded (every role one of stratify's, every team one of
the neighbourhoods file's); the secret is read when the app starts.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Field, Strict, model_validator
from pydantic.dataclasses import dataclass

from stratify.config.names import name_problem
from stratify.config.neighbourhoods import TEAM_RE

# The web app's roles (stratify.app.users.ROLES; the configuration sits below the app and cannot import it).
ROLES = ("team_lead", "team_member", "place_lead", "ig_auditor", "data_team")
TEAM_ROLES = ("team_lead", "team_member")
CALLBACK_PATH = "/auth/callback"
CLAIM_RE = re.compile(r"[\x21-\x7e]{1,200}")  # claim names: printable, no spaces (URIs are common names)
SCOPE_RE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,100}")  # RFC 6749 scope-token
MAX_CLAIM_VALUE = 300
SECTION = ConfigDict(extra="forbid")  # as config.sections' (which holds `app` and imports this module)
Str = Annotated[str, Strict()]


def _one_line(text: str) -> str:
    if not text.isprintable():
        raise ValueError("must be one line of printable text")
    return text


Line = Annotated[Str, Field(min_length=1, max_length=300), AfterValidator(_one_line)]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(text: str, what: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"must be the {what} as an https:// URL")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ValueError("must be an https:// URL (plain http only on this machine's loopback, for tests)")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(f"must be the {what} alone: no user, password, query or fragment in it")
    return text


def _issuer(text: str) -> str:
    return _url(text, "identity provider's issuer URL (its discovery document is <issuer>/.well-known/openid-configuration)")


def _redirect_uri(text: str) -> str:
    _url(text, "address of stratify's callback")
    if urlsplit(text).path != CALLBACK_PATH:
        raise ValueError(f"must end in {CALLBACK_PATH}, the app's callback (as registered with the provider)")
    return text


def _env_name(value: str) -> str:
    if value and (why := name_problem(value, "env")):
        raise ValueError(why)
    return value


def _claim(name: str) -> str:
    if not CLAIM_RE.fullmatch(name):
        raise ValueError("must be the name of a claim: 1-200 printable characters, no spaces")
    return name


def _scopes(scopes: tuple[str, ...]) -> tuple[str, ...]:
    bad = [i for i, s in enumerate(scopes) if not SCOPE_RE.fullmatch(s)]
    if bad:
        raise ValueError(f"scope {bad[0] + 1} is not a scope name (printable, no spaces, quotes or backslashes)")
    if "openid" not in scopes:
        raise ValueError("must include openid (without it the provider sends no ID token)")
    return tuple(dict.fromkeys(scopes))


def _claim_values(mapping: dict[str, str]) -> dict[str, str]:
    for value in mapping:
        if not value or len(value) > MAX_CLAIM_VALUE or not value.isprintable():
            raise ValueError(f"each claim value mapped is 1-{MAX_CLAIM_VALUE} printable characters")
    return mapping


def _roles(mapping: dict[str, str]) -> dict[str, str]:
    if not mapping:
        raise ValueError(f"must map at least one value of role_claim to a role ({', '.join(ROLES)})")
    return _claim_values(mapping)


def _team_codes(mapping: dict[str, str]) -> dict[str, str]:
    _claim_values(mapping)
    for value, team in mapping.items():
        if not TEAM_RE.match(team):
            raise ValueError(f"the claim value {value!r} must map to a team code (1-64 of A-Z a-z 0-9 _ -)")
    return mapping


Claim = Annotated[Str, AfterValidator(_claim)]
Role = Literal["team_lead", "team_member", "place_lead", "ig_auditor", "data_team"]


@dataclass(frozen=True, config=SECTION)
class OidcConfig:
    """The identity provider, stratify's client registration with it, and how its claims become role and team."""

    issuer: Annotated[Str, AfterValidator(_issuer)]
    client_id: Line
    roles: Annotated[dict[Str, Role], AfterValidator(_roles)]  # a value of role_claim -> a stratify role
    name: Line = "your identity provider"  # shown on the log-in page: "Sign in with <name>"
    client_secret_env: Annotated[Str, AfterValidator(_env_name)] = ""
    client_secret_file: Str | None = None  # relative to the configuration file's folder
    scopes: Annotated[tuple[Str, ...], AfterValidator(_scopes)] = ("openid", "profile", "email")
    username_claim: Claim = "preferred_username"
    role_claim: Claim = "groups"
    team_claim: Claim = "groups"
    # A value of team_claim -> one of the place's teams; None: the claim's value is the team code itself.
    teams: Annotated[dict[Str, Str] | None, AfterValidator(lambda m: m if m is None else _team_codes(m))] = None
    redirect_uri: Annotated[Str | None, AfterValidator(lambda t: t if t is None else _redirect_uri(t))] = None

    @model_validator(mode="after")
    def _one_secret(self) -> OidcConfig:
        if bool(self.client_secret_env) == bool(self.client_secret_file):
            raise ValueError("name where the client secret is, exactly one of client_secret_env (an environment "
                             "variable's NAME) or client_secret_file (a file holding only the secret); "
                             "never the secret itself")
        return self

    def team_problems(self, teams: set[str], where: str) -> list[str]:
        """One sentence per mapped team that is not one of the place's teams."""
        return [f"app.oidc.teams: the claim value {value!r} maps to {team}, not a team of {where} "
                f"(its teams: {', '.join(sorted(teams)[:20])})"
                for value, team in (self.teams or {}).items() if team not in teams]
