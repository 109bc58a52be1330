"""Signing in to the web app through OpenID Connect, against a real provider (the npm package oidc-provider).

The provider (tests/oidc/provider.mjs, its version pinned by tests/oidc/package-lock.json) is installed with
`npm ci` into a cache outside the checkout (`$XDG_CACHE_HOME/stratify-test-oidc/<lock digest>/`, else
~/.cache/...) and started on a free loopback port as `http://localhost:<port>`; the app runs under uvicorn at
`http://127.0.0.1:<port>`, another site, as a provider is in real life. Its fixed test accounts carry the
`groups` claim the place's `app.oidc` maps to roles and teams. The flow is driven with httpx through the
provider's own log-in and consent forms (and once in Debian's Chromium, to prove the cookies work across the
two sites in a real browser). Without node or npm the provider tests skip, saying so; the claim mapping and
the configuration are tested without them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx
import pytest
from app_place import PASSWORD, add_users, audit_rows, make_published_place

from helpers import write_place
from stratify.app import oidc_accounts, users
from stratify.app.audit import verify
from stratify.app.oidc_accounts import OidcRefused, map_claims
from stratify.app.store import open_db
from stratify.config import load_config
from stratify.config.oidc import ROLES, OidcConfig
from stratify.errors import ConfigError

PROVIDER_DIR = Path(__file__).with_name("oidc")
CHROMIUM = Path("/usr/bin/chromium")
CLIENT_ID, SECRET_ENV = "stratify-test", "STRATIFY_TEST_OIDC_SECRET"
CLIENT_SECRET = "a-client-secret-for-the-test-provider-only"
NODE = shutil.which("node")
NPM = shutil.which("npm")
needs_node = pytest.mark.skipif(NODE is None or NPM is None,
                                reason="node and npm are not installed: the real OpenID Connect provider cannot run")

# The provider's accounts: account id (= sub, and what its log-in form takes) -> the claims it vouches for.
ACCOUNTS = {
    "sub-ann-0001": {"preferred_username": "Ann Idp", "name": "Ann Idp", "groups": ["staff", "stratify-leads", "nt01"]},
    "sub-ivy-0002": {"preferred_username": "Ivy Idp", "groups": ["staff", "ig-officers"]},
    "sub-ursula-0003": {"preferred_username": "Ursula Idp", "groups": ["staff"]},  # no mapped role
    "sub-tom-0004": {"preferred_username": "Tom Idp", "groups": ["stratify-leads", "nt99"]},  # a team the place lacks
    "sub-clash-0005": {"preferred_username": "ann", "groups": ["stratify-leads", "nt01"]},  # a local account's name
    "sub-bea-0006": {"preferred_username": "Bea Idp", "groups": ["stratify-members", "nt02"]},
}
OIDC_SECTION = """app:
  oidc:
    name: Test Provider
    issuer: {issuer}
    client_id: {client_id}
    client_secret_env: {secret_env}
    scopes: [openid, profile, groups]
    roles: {{stratify-leads: team_lead, stratify-members: team_member, ig-officers: ig_auditor}}
    teams: {{nt01: NT01, nt02: NT02}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _oidc(**overrides) -> OidcConfig:
    fields = {"issuer": "https://idp.example.org", "client_id": "stratify", "client_secret_env": "X_SECRET",
              "roles": {"leads": "team_lead", "members": "team_member", "ig": "ig_auditor"},
              "teams": {"nt01": "NT01", "nt02": "NT02"}}
    return OidcConfig(**{**fields, **overrides})


# --------------------------------------------------------------------------- the claim mapping, no provider


def test_claims_map_to_one_role_and_one_of_the_places_teams():
    oidc = _oidc()
    assert map_claims({"groups": ["staff", "leads", "nt01"]}, oidc, ("NT01", "NT02")) == ("team_lead", "NT01")
    assert map_claims({"groups": "ig"}, oidc, ("NT01", "NT02")) == ("ig_auditor", None)  # a text is one value
    assert map_claims({"groups": ["ig", "nt02"]}, oidc, ("NT01",)) == ("ig_auditor", None)  # a team is not needed
    split = _oidc(role_claim="stratify_role", team_claim="team", teams=None)  # the team claim is the code itself
    assert map_claims({"stratify_role": "members", "team": "NT02"}, split, ("NT01", "NT02")) == ("team_member", "NT02")


@pytest.mark.parametrize(("claims", "why"), [
    ({"groups": ["staff"]}, "no mapped role"),
    ({}, "no mapped role"),
    ({"groups": [1, True, None]}, "no mapped role"),  # only text values count
    ({"groups": ["staff\nforged audit line"]}, r"its values: \(a value with invisible characters\)"),
    ({"groups": ["leads", "ig", "nt01"]}, "more than one role"),
    ({"groups": ["leads"]}, "unknown team"),
    ({"groups": ["leads", "nt99"]}, "unknown team"),
    ({"groups": ["members", "nt01", "nt02"]}, "more than one team"),
])
def test_claims_without_one_role_or_one_known_team_are_refused(claims, why):
    with pytest.raises(OidcRefused, match=why):
        map_claims(claims, _oidc(), ("NT01", "NT02"))


def test_a_team_the_place_no_longer_has_is_refused_and_a_code_is_not_taken_on_trust():
    with pytest.raises(OidcRefused, match="unknown team: the claim groups maps to NT02, not a team of this place"):
        map_claims({"groups": ["leads", "nt02"]}, _oidc(), ("NT01",))  # the neighbourhoods file changed since load
    with pytest.raises(OidcRefused, match="unknown team"):
        map_claims({"team": "NT09", "groups": "leads"}, _oidc(team_claim="team", teams=None), ("NT01", "NT02"))


def test_the_roles_are_the_apps_roles():
    assert ROLES == users.ROLES


def test_the_user_name_claim_is_checked_like_a_local_user_name():
    oidc = _oidc()
    assert oidc_accounts.user_name({"preferred_username": "Ann O'Neill"}, oidc) == "Ann O'Neill"
    for bad in ({}, {"preferred_username": 42}, {"preferred_username": "<script>"}, {"preferred_username": "x" * 101}):
        with pytest.raises(OidcRefused, match="preferred_username"):
            oidc_accounts.user_name(bad, oidc)


# --------------------------------------------------------------------------- configuration, no provider

GOOD = OIDC_SECTION.format(issuer="https://idp.example.org/realms/place", client_id="stratify",
                           secret_env="STRATIFY_OIDC_SECRET")


def test_the_oidc_section_loads_typed(tmp_path):
    cfg = write_place(tmp_path, extra=GOOD)
    o = cfg.app_oidc
    assert (o.issuer, o.client_id, o.client_secret_env, o.name) == (
        "https://idp.example.org/realms/place", "stratify", "STRATIFY_OIDC_SECRET", "Test Provider")
    assert o.scopes == ("openid", "profile", "groups") and o.roles["ig-officers"] == "ig_auditor"
    assert o.teams == {"nt01": "NT01", "nt02": "NT02"} and o.username_claim == "preferred_username"
    assert write_place(tmp_path).app_oidc is None  # no section: local accounts only
    with_file = write_place(tmp_path, extra=GOOD.replace("client_secret_env: STRATIFY_OIDC_SECRET",
                                                         "client_secret_file: secrets/oidc.txt"))
    assert with_file.app_oidc.client_secret_file == str((tmp_path / "secrets" / "oidc.txt").resolve())


@pytest.mark.parametrize(("old", "new", "problem"), [
    ("nt02: NT02", "nt02: NT09", "app.oidc.teams: the claim value 'nt02' maps to NT09, not a team of"),
    ("ig-officers: ig_auditor", "ig-officers: admin", "app.oidc.roles.ig-officers: 'admin' is not one of"),
    ("https://idp.example.org", "http://idp.example.org", "app.oidc.issuer: must be an https:// URL"),
    ("https://idp.example.org/realms/place", "https://idp.example.org/?x=1", "app.oidc.issuer: must be the"),
    ("[openid, profile, groups]", "[profile, groups]", "app.oidc.scopes: must include openid"),
    ("    client_id: stratify\n", "", "app.oidc: missing key(s) client_id"),
    ("client_secret_env: STRATIFY_OIDC_SECRET", "client_secret: hunter2-hunter2",
     "app.oidc.client_secret: unknown key: keys and secrets must never be in the configuration file"),
    ("client_secret_env: STRATIFY_OIDC_SECRET", "client_secret_env: Zk3jd9fKs0dJ29dkLs0d9fj3kLs0dQ",
     "app.oidc.client_secret_env: this looks like a key, not a variable name"),
    ("    client_secret_env: STRATIFY_OIDC_SECRET\n", "", "app.oidc: name where the client secret is, exactly one"),
    ("client_secret_env: STRATIFY_OIDC_SECRET", "client_secret_env: S\n    client_secret_file: s.txt",
     "app.oidc: name where the client secret is, exactly one"),
    ("roles: {stratify-leads: team_lead, stratify-members: team_member, ig-officers: ig_auditor}", "roles: {}",
     "app.oidc.roles: must map at least one value of role_claim to a role"),
    ("    name: Test Provider\n", "    name: Test Provider\n    colour: blue\n", "app.oidc: unknown key(s) colour"),
    ("    name: Test Provider\n", "    name: Test Provider\n    redirect_uri: https://app.example.org/cb\n",
     "app.oidc.redirect_uri: must end in /auth/callback"),
])
def test_a_bad_oidc_section_is_refused_naming_the_key(tmp_path, old, new, problem):
    assert old in GOOD
    with pytest.raises(ConfigError) as caught:
        write_place(tmp_path, extra=GOOD.replace(old, new))
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems
    assert "hunter2" not in str(caught.value) and "Zk3jd9f" not in str(caught.value)  # a pasted secret not echoed


def test_the_client_secret_is_read_from_the_environment_or_an_owner_only_file(tmp_path, monkeypatch):
    cfg = write_place(tmp_path, extra=GOOD)
    monkeypatch.delenv("STRATIFY_OIDC_SECRET", raising=False)
    with pytest.raises(ConfigError, match="the environment variable STRATIFY_OIDC_SECRET is not set"):
        oidc_accounts.client_secret(cfg)
    monkeypatch.setenv("STRATIFY_OIDC_SECRET", " s3cret \n")
    assert oidc_accounts.client_secret(cfg) == "s3cret"
    cfg = write_place(tmp_path, extra=GOOD.replace("client_secret_env: STRATIFY_OIDC_SECRET",
                                                   "client_secret_file: oidc.txt"))
    with pytest.raises(ConfigError, match="oidc.txt cannot be read"):
        oidc_accounts.client_secret(cfg)
    (tmp_path / "oidc.txt").write_text("from-a-file\n", encoding="utf-8")
    (tmp_path / "oidc.txt").chmod(0o644)
    with pytest.raises(ConfigError, match="readable or writable by every user"):
        oidc_accounts.client_secret(cfg)
    (tmp_path / "oidc.txt").chmod(0o600)
    assert oidc_accounts.client_secret(cfg) == "from-a-file"


def test_the_login_page_offers_the_provider_only_when_configured(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from stratify.app.web import create_app

    plain = write_place(tmp_path)
    assert "Sign in with" not in TestClient(create_app(plain)).get("/login").text
    assert TestClient(create_app(plain)).get("/login/oidc").status_code == 404  # no route without app.oidc
    monkeypatch.setenv("STRATIFY_OIDC_SECRET", "s3cret")
    page = TestClient(create_app(write_place(tmp_path, extra=GOOD))).get("/login").text
    assert '<a class="button" href="/login/oidc">Sign in with Test Provider</a>' in page
    assert 'name="username"' in page and 'name="password"' in page and 'name="csrf_token"' in page
    monkeypatch.delenv("STRATIFY_OIDC_SECRET")
    with pytest.raises(ConfigError, match="STRATIFY_OIDC_SECRET is not set"):  # `stratify serve` stops at once
        create_app(write_place(tmp_path, extra=GOOD))


def test_an_unreachable_provider_is_a_503_and_logged_and_local_log_in_stays(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from stratify.app.web import create_app

    monkeypatch.setenv("STRATIFY_OIDC_SECRET", "s3cret")
    nobody = f"http://127.0.0.1:{_free_port()}"  # a loopback port nothing listens on
    cfg = write_place(tmp_path, extra=GOOD.replace("https://idp.example.org/realms/place", nobody))
    c = TestClient(create_app(cfg))
    r = c.get("/login/oidc", follow_redirects=False)
    assert r.status_code == 503 and "Test Provider cannot be reached just now" in r.text
    assert "stratify_oidc" not in r.headers.get("set-cookie", "")
    row = audit_rows(cfg)[-1]
    assert (row["action"], row["target"], row["allowed"]) == ("login", "/login/oidc", 0)
    assert row["detail"] == "OpenID Connect (Test Provider): the identity provider could not be reached (ConnectError)"
    assert c.get("/login").status_code == 200


# --------------------------------------------------------------------------- the real provider


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stratify-test-oidc"


@pytest.fixture(scope="module")
def provider_install(tmp_path_factory) -> Path:
    """oidc-provider installed by `npm ci` from the pinned lock file, once per lock file, outside the checkout."""
    if NODE is None or NPM is None:
        pytest.skip("node and npm are not installed: the real OpenID Connect provider cannot run")
    lock = (PROVIDER_DIR / "package-lock.json").read_bytes()
    digest = hashlib.sha256(lock + (PROVIDER_DIR / "package.json").read_bytes()).hexdigest()[:16]
    root = _cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        root = tmp_path_factory.mktemp("oidc-cache")
    target = root / digest
    with open(root / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # one `npm ci` at a time into the shared cache
        if not (target / "node_modules" / "oidc-provider" / "package.json").is_file():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            for name in ("package.json", "package-lock.json"):
                shutil.copy2(PROVIDER_DIR / name, target / name)
            done = subprocess.run([NPM, "ci", "--no-audit", "--no-fund", "--omit=dev", "--loglevel=error"],
                                  cwd=target, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    return target


class Provider:
    def __init__(self, issuer: str, process: subprocess.Popen, log: Path):
        self.issuer, self.process, self.log = issuer, process, log


def _start_provider(install: Path, run_dir: Path, port: int, redirect_uri: str) -> Provider:
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(PROVIDER_DIR / "provider.mjs", run_dir / "provider.mjs")
    (run_dir / "node_modules").symlink_to(install / "node_modules")  # ESM resolves from the script's folder
    issuer = f"http://localhost:{port}"
    env = {**os.environ, "OIDC_ISSUER": issuer, "OIDC_CLIENT_ID": CLIENT_ID, "OIDC_CLIENT_SECRET": CLIENT_SECRET,
           "OIDC_REDIRECT_URI": redirect_uri, "OIDC_ACCOUNTS": json.dumps(ACCOUNTS)}
    log = run_dir / "provider.log"
    process = subprocess.Popen([NODE, "provider.mjs"], cwd=run_dir, env=env, stdout=open(log, "w"),
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the provider exited at once:\n{log.read_text()}")
        try:
            if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=2).status_code == 200:
                return Provider(issuer, process, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise AssertionError(f"the provider did not answer within 30 s:\n{log.read_text()}")


def _serve(app, port: int):
    import uvicorn

    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.1)
    assert srv.started, "the app did not start"
    return srv, thread


@pytest.fixture(scope="module")
def live(provider_install, tmp_path_factory):
    """The published two-team place with local users, `app.oidc` pointing at the running provider, and the app."""
    from stratify.app.web import create_app

    root = tmp_path_factory.mktemp("app_oidc")
    place_dir = root / "place"
    place_dir.mkdir()
    make_published_place(place_dir)
    app_port, provider_port = _free_port(), _free_port()
    app_url = f"http://127.0.0.1:{app_port}"
    provider = _start_provider(provider_install, root / "provider", provider_port, app_url + "/auth/callback")
    try:
        with open(place_dir / "place.yaml", "a", encoding="utf-8") as fh:
            fh.write(OIDC_SECTION.format(issuer=provider.issuer, client_id=CLIENT_ID, secret_env=SECRET_ENV))
        cfg = load_config(place_dir / "place.yaml")
        add_users(cfg)  # local accounts ann (team lead, NT01), nia (NT02), ... with PASSWORD
        os.environ[SECRET_ENV] = CLIENT_SECRET
        try:
            app = create_app(cfg, clock=lambda: datetime.now(UTC))
        finally:
            del os.environ[SECRET_ENV]
        srv, thread = _serve(app, app_port)
        yield cfg, app_url, provider
        srv.should_exit = True
        thread.join(timeout=10)
    finally:
        provider.process.terminate()
        provider.process.wait(timeout=10)


FORM_RE = re.compile(r'<form[^>]*action="([^"]+)"[^>]*method="post"')


def _through_provider(client: httpx.Client, app_url: str, account: str, until_callback: bool = False) -> httpx.Response:
    """From the app's log-in page through the provider's log-in and consent forms, back to the app.

    `until_callback`: stop at the provider's redirect to the app's callback (not followed) and return it.
    """
    page = client.get(app_url + "/login")
    assert 'href="/login/oidc"' in page.text
    r = client.get(app_url + "/login/oidc")  # -> the provider's authorization endpoint -> its log-in form
    assert r.status_code == 200 and 'name="login"' in r.text, r.text[:500]
    r = client.post(urljoin(str(r.url), FORM_RE.search(r.text).group(1)),
                    data={"prompt": "login", "login": account, "password": "any password"})
    assert r.status_code == 200 and 'name="prompt" value="consent"' in r.text, r.text[:500]
    consent = urljoin(str(r.url), FORM_RE.search(r.text).group(1))
    if not until_callback:
        return client.post(consent, data={"prompt": "consent"})
    r = client.post(consent, data={"prompt": "consent"}, follow_redirects=False)
    while not r.headers["location"].startswith(app_url):
        r = client.get(urljoin(str(r.url), r.headers["location"]), follow_redirects=False)
    return r


def _browser() -> httpx.Client:
    return httpx.Client(follow_redirects=True, timeout=30)


def _logins(cfg, since: int = 0) -> list[dict]:
    return [r for r in audit_rows(cfg) if r["action"] == "login" and r["seq"] > since]


def _last_seq(cfg) -> int:
    rows = audit_rows(cfg)
    return rows[-1]["seq"] if rows else 0


@needs_node
def test_a_mapped_team_lead_lands_on_their_teams_list_and_another_team_is_404(live):
    cfg, app_url, provider = live
    since = _last_seq(cfg)
    with _browser() as b:
        r = _through_provider(b, app_url, "sub-ann-0001")
        assert str(r.url) == app_url + "/auth/callback?" + urlsplit(str(r.url)).query
        assert r.status_code == 200 and '<meta http-equiv="refresh" content="0; url=/">' in r.text
        assert "Test Provider signed you in as <strong>Ann Idp</strong> (team lead, team NT01)" in r.text
        cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("stratify_session="))
        assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
        home = b.get(app_url + "/")
        assert str(home.url) == app_url + "/teams/NT01" and home.status_code == 200
        assert "Team NT01" in home.text and "Signed in as <strong>Ann Idp</strong>" in home.text
        other = b.get(app_url + "/teams/NT02")
        assert other.status_code == 404
        assert b.get(app_url + "/ig/audit").status_code == 404
    admitted = _logins(cfg, since)
    assert [(r["user_name"], r["role"], r["team"], r["allowed"], r["target"]) for r in admitted] == [
        ("Ann Idp", "team_lead", "NT01", 1, "/auth/callback")]
    assert admitted[0]["detail"] == "OpenID Connect (Test Provider): subject sub-ann-0001"
    refused = [r for r in audit_rows(cfg) if r["seq"] > since and r["target"] == "list NT02"]
    assert [(r["user_name"], r["allowed"], r["detail"]) for r in refused] == [("Ann Idp", 0, "not this user's team")]
    with open_db(cfg.app_database) as con:
        row = con.execute("SELECT u.role, u.team, u.password_hash, o.issuer FROM users u JOIN oidc_accounts o "
                          "USING (user_name) WHERE o.subject = 'sub-ann-0001'").fetchone()
        assert (row["role"], row["team"], row["issuer"]) == ("team_lead", "NT01", provider.issuer)
        with pytest.raises(users.UserError):  # no password lets anyone into the provider's account
            users.authenticate(con, "Ann Idp", row["password_hash"], datetime.now(UTC))


@needs_node
def test_a_second_sign_in_reuses_the_account_and_other_roles_land_on_their_page(live):
    cfg, app_url, _ = live
    for account, landing in (("sub-ann-0001", "/teams/NT01"), ("sub-ivy-0002", "/ig/audit"),
                             ("sub-bea-0006", "/teams/NT02")):
        with _browser() as b:
            assert _through_provider(b, app_url, account).status_code == 200
            assert str(b.get(app_url + "/").url) == app_url + landing
    with open_db(cfg.app_database) as con:
        linked = con.execute("SELECT subject, user_name FROM oidc_accounts ORDER BY subject").fetchall()
        assert ("sub-ann-0001", "Ann Idp") in [tuple(r) for r in linked]
        assert len([r for r in linked if r["subject"] == "sub-ann-0001"]) == 1
        assert users.get_user(con, "Bea Idp") == users.User("Bea Idp", "team_member", "NT02", False)


@needs_node
@pytest.mark.parametrize(("account", "name", "why"), [
    ("sub-ursula-0003", "Ursula Idp", "no mapped role: no value of the claim groups maps to a stratify role"),
    ("sub-tom-0004", "Tom Idp", "unknown team: a team_lead needs a team, and no value of the claim groups maps to"),
    ("sub-clash-0005", "ann", "the user name ann is already another account of this app"),
])
def test_an_unmapped_or_clashing_user_is_refused_and_the_refusal_is_in_the_audit_log(live, account, name, why):
    cfg, app_url, _ = live
    since = _last_seq(cfg)
    with _browser() as b:
        r = _through_provider(b, app_url, account)
        assert r.status_code == 403 and "cannot let you in" in r.text
        assert "stratify_session" not in b.cookies
        assert str(b.get(app_url + "/teams/NT01").url) == app_url + "/login"  # not signed in
    refused = _logins(cfg, since)
    assert [(r["user_name"], r["allowed"], r["target"]) for r in refused] == [(name, 0, "/auth/callback")]
    assert refused[0]["detail"].startswith(f"OpenID Connect (Test Provider): {why}"), refused[0]["detail"]
    with open_db(cfg.app_database) as con:
        assert not con.execute("SELECT 1 FROM oidc_accounts WHERE subject = ?", [account]).fetchone()
        if name != "ann":
            assert users.get_user(con, name) is None
        else:
            assert users.get_user(con, "ann").role == "team_lead"  # the local account untouched
        assert verify(con).ok  # the refusal is a link of the hash chain like any other row


@needs_node
def test_a_tampered_or_foreign_state_is_refused(live):
    cfg, app_url, _ = live
    since = _last_seq(cfg)
    with _browser() as b:
        back = _through_provider(b, app_url, "sub-ann-0001", until_callback=True)
        url = urlsplit(back.headers["location"])
        query = dict(parse_qsl(url.query))
        assert {"code", "state"} <= query.keys()
        tampered = urlunsplit(url._replace(query=urlencode({**query, "state": query["state"][:-2] + "xx"})))
        r = b.get(tampered)
        assert r.status_code == 403 and "state does not match" in r.text
        assert "stratify_session" not in b.cookies
        replay = b.get(back.headers["location"])  # the genuine answer, after the tampered one spent the state
        assert replay.status_code == 403
    with _browser() as b:  # an answer claiming to come from another issuer (RFC 9207's iss)
        back = _through_provider(b, app_url, "sub-ann-0001", until_callback=True)
        url = urlsplit(back.headers["location"])
        query = {**dict(parse_qsl(url.query)), "iss": "https://elsewhere.example.org"}
        r = b.get(urlunsplit(url._replace(query=urlencode(query))))
        assert r.status_code == 403 and "the answer names another issuer (iss)" in r.text
    with _browser() as started, _browser() as other:  # a genuine answer taken to a browser that started none
        back = _through_provider(started, app_url, "sub-ann-0001", until_callback=True)
        r = other.get(back.headers["location"])
        assert r.status_code == 403 and "state does not match" in r.text
    refused = _logins(cfg, since)
    assert [r["allowed"] for r in refused] == [0, 0, 0, 0]
    assert [("state does not match the one this browser started" in r["detail"]) for r in refused] == [
        True, True, False, True]


@needs_node
def test_a_disabled_account_is_refused_and_local_passwords_still_work(live):
    cfg, app_url, _ = live
    with _browser() as b:
        assert _through_provider(b, app_url, "sub-bea-0006").status_code == 200
    with open_db(cfg.app_database) as con:
        users.disable_user(con, "Bea Idp")
    since = _last_seq(cfg)
    with _browser() as b:
        r = _through_provider(b, app_url, "sub-bea-0006")
        assert r.status_code == 403 and "disabled in this app" in r.text
    assert [r["allowed"] for r in _logins(cfg, since)] == [0]
    with _browser() as b:  # the password form beside it
        form = b.get(app_url + "/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        r = b.post(app_url + "/login", data={"username": "nia", "password": PASSWORD, "csrf_token": token})
        assert str(r.url) == app_url + "/teams/NT02" and r.status_code == 200


@needs_node
def test_a_provider_naming_another_issuer_is_not_trusted(live, tmp_path):
    """The discovery document must name the configured issuer: here the place says 127.0.0.1, the provider localhost."""
    from fastapi.testclient import TestClient

    from stratify.app.web import create_app

    cfg, _, provider = live
    shutil.copytree(cfg.path.parent, tmp_path / "place", symlinks=True)
    path = tmp_path / "place" / "place.yaml"
    path.write_text(path.read_text().replace(provider.issuer, provider.issuer.replace("localhost", "127.0.0.1")))
    os.environ[SECRET_ENV] = CLIENT_SECRET
    try:
        moved = load_config(path)
        c = TestClient(create_app(moved))
    finally:
        del os.environ[SECRET_ENV]
    r = c.get("/login/oidc", follow_redirects=False)
    assert r.status_code == 503 and "names another issuer" in r.text
    last = _logins(moved)[-1]
    assert (last["allowed"], last["target"]) == (0, "/login/oidc") and "another issuer" in last["detail"]


@needs_node
@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_in_a_real_browser_the_cookies_survive_the_cross_site_round_trip(live, tmp_path):
    """Chromium withholds SameSite=Strict cookies from the provider's redirect chain; the app's page moves on itself."""
    playwright = pytest.importorskip("playwright.sync_api")
    cfg, app_url, _ = live
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(app_url + "/teams/NT01")
        assert page.url == app_url + "/login"
        page.click("text=Sign in with Test Provider")
        assert page.url.startswith("http://localhost:")
        page.fill("input[name=login]", "sub-ann-0001")
        page.fill("input[name=password]", "any password")
        page.click("button[type=submit]")
        page.click("button[type=submit]")  # the provider's consent
        page.wait_for_url(app_url + "/teams/NT01")
        assert page.locator("h1").inner_text() == "Team NT01: who to look at first"
        page.screenshot(path=str(tmp_path / "oidc-list.png"), full_page=True)
        page.goto(app_url + "/teams/NT02")
        assert "There is no such page." in page.locator("main").inner_text()
        browser.close()
