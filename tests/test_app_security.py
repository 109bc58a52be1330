"""The web app's defences: log-in everywhere, lock-out, idle expiry, team isolation, forged forms, escaping, headers."""

from __future__ import annotations

import shutil

import pytest
from app_place import (
    EVIL,
    PASSWORD,
    Clock,
    add_users,
    audit_rows,
    client,
    log_in,
    make_published_place,
    token,
)

from helpers import pid
from stratify.config import load_config

ROUTES = ["/", "/teams/NT01", f"/teams/NT01/people/{pid(1)}", "/ig/audit", "/ig/validation", "/overview", "/status"]


@pytest.fixture(scope="module")
def template_place(tmp_path_factory):
    """Built once (argon2 hashing is slow on purpose); each test gets its own copy."""
    root = tmp_path_factory.mktemp("app_place")
    cfg = make_published_place(root)
    add_users(cfg)
    return root


@pytest.fixture
def place(template_place, tmp_path):
    shutil.copytree(template_place, tmp_path / "place", symlinks=True)
    cfg = load_config(tmp_path / "place" / "place.yaml")
    clock = Clock()
    return cfg, clock, client(cfg, clock)


def test_every_page_needs_a_log_in_and_the_refusal_is_logged(place):
    cfg, _, c = place
    for route in ROUTES:
        r = c.get(route, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login", route
    r = c.post(f"/teams/NT01/people/{pid(1)}/outcome", data={"outcome": "engaged"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    refused = [row for row in audit_rows(cfg) if not row["allowed"]]
    assert len(refused) == len(ROUTES) + 1 and all(row["detail"] == "not signed in" for row in refused)
    assert not (cfg.landing / "outcomes").exists()


def test_log_in_sets_a_signed_httponly_strict_cookie(place):
    _, _, c = place
    r = log_in(c, "ann")
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and "Max-Age=1800" in cookie
    assert c.get("/", follow_redirects=False).headers["location"] == "/teams/NT01"
    c.cookies.set("stratify_session", c.cookies.get("stratify_session")[:-2] + "xx")  # a forged signature
    assert c.get("/teams/NT01", follow_redirects=False).status_code == 303


def test_ten_wrong_passwords_lock_the_account_for_fifteen_minutes(place):
    cfg, clock, c = place
    for _ in range(10):
        assert log_in(c, "ann", "wrong password here").headers["location"] == "/login?failed=1"
    assert log_in(c, "ann").headers["location"] == "/login?failed=1"  # the right password, but locked
    clock.advance(minutes=14)
    assert log_in(c, "ann").headers["location"] == "/login?failed=1"
    clock.advance(minutes=2)
    assert log_in(c, "ann").headers["location"] == "/"
    assert sum(1 for r in audit_rows(cfg) if r["action"] == "login" and not r["allowed"]) == 12


def test_nine_wrong_passwords_then_the_right_one_does_not_lock(place):
    _, _, c = place
    for _ in range(9):
        log_in(c, "ann", "wrong password here")
    assert log_in(c, "ann").headers["location"] == "/"


def test_a_session_expires_after_thirty_idle_minutes_not_while_used(place):
    _, clock, c = place
    log_in(c, "ann")
    for _ in range(3):  # used every 20 minutes: an hour later still signed in
        clock.advance(minutes=20)
        r = c.get("/teams/NT01")
        assert r.status_code == 200
        assert "Max-Age=1800" in r.headers["set-cookie"]  # the browser's cookie restarts its 30 minutes too
    clock.advance(minutes=30)
    r = c.get("/teams/NT01", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_another_teams_list_or_person_by_url_is_404_and_logged(place):
    cfg, _, c = place
    log_in(c, "ann")
    for route in ("/teams/NT02", f"/teams/NT02/people/{pid(11)}", f"/teams/NT01/people/{pid(11)}",
                  f"/teams/NT01/people/{pid(11)[:6]}", "/teams/NT99"):
        r = c.get(route)
        assert r.status_code == 404, route
        assert pid(11) not in r.text and "housing" not in r.text
    r = c.post(f"/teams/NT02/people/{pid(11)}/outcome", data={"csrf_token": token(c.get("/teams/NT01").text),
                                                             "outcome": "engaged", "event_date": "2026-11-20"})
    assert r.status_code == 404 and not (cfg.landing / "outcomes").exists()
    refused = [r for r in audit_rows(cfg) if not r["allowed"]]
    assert len(refused) == 6 and {r["user_name"] for r in refused} == {"ann"}
    assert {r["detail"] for r in refused} == {"not this user's team", "nobody on this team's page"}


def test_roles_without_person_pages_get_404_for_a_team(place):
    _, _, c = place
    for name, own in (("pat", "/overview"), ("iggy", "/ig/audit"), ("dan", "/status")):
        c.cookies.clear()
        log_in(c, name)
        assert c.get("/", follow_redirects=False).headers["location"] == own
        assert c.get(own).status_code == 200
        assert c.get("/teams/NT01").status_code == 404
        assert c.get(f"/teams/NT01/people/{pid(1)}").status_code == 404
    c.cookies.clear()
    log_in(c, "ann")
    assert c.get("/ig/audit").status_code == 404 and c.get("/overview").status_code == 404


def test_forged_forms_are_refused_and_record_nothing(place):
    cfg, _, c = place
    page = c.get("/login")
    r = c.post("/login", data={"username": "ann", "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403 and "stratify_session" not in c.cookies
    c.cookies.clear()
    # a token of the log-in form without its cookie (another browser's page) is refused too
    r = c.post("/login", data={"username": "ann", "password": PASSWORD, "csrf_token": token(page.text)})
    assert r.status_code == 403
    log_in(c, "ann")
    for forged in ({}, {"csrf_token": "x" * 43}, {"csrf_token": token(page.text)}):
        r = c.post(f"/teams/NT01/people/{pid(1)}/outcome",
                   data={"outcome": "engaged", "event_date": "2026-11-20", **forged})
        assert r.status_code == 403
    assert not (cfg.landing / "outcomes").exists()
    assert sum(1 for r in audit_rows(cfg) if r["detail"].startswith("anti-forgery")) == 5
    assert c.post("/logout", data={"csrf_token": "nope"}).status_code == 403


def test_script_in_the_data_is_escaped_and_no_script_may_run(place):
    _, _, c = place
    log_in(c, "ann")
    for r in (c.get("/teams/NT01"), c.get(f"/teams/NT01/people/{pid(3)}")):
        assert r.status_code == 200
        assert EVIL not in r.text and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in r.text
        assert "<script" not in r.text
        csp = r.headers["content-security-policy"]
        assert "script-src 'none'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert r.headers["cache-control"] == "no-store" and r.headers["x-frame-options"] == "DENY"


def test_urls_hold_only_short_references_and_pseudonyms(place):
    _, _, c = place
    log_in(c, "ann")
    page = c.get("/teams/NT01").text
    import re

    links = re.findall(r'href="(/teams/NT01/people/[^"]+)"', page)
    assert len(links) == 3 and all(re.fullmatch(r"/teams/NT01/people/[0-9a-f]{4,64}", u) for u in links)
    assert c.get(links[0]).status_code == 200
    assert c.get(f"/teams/NT01/people/{pid(1)}").status_code == 200  # the full pseudonym names the person too


def test_filters_by_tier_change_and_agency(place):
    _, _, c = place
    log_in(c, "ann")
    crisis = c.get("/teams/NT01?tier=crisis").text
    assert "1 of" not in crisis and "2 of 3 people" in crisis
    assert "0 of" not in c.get("/teams/NT01?agency=police").text and "3 of 3" in c.get("/teams/NT01?agency=police").text
    assert "Nobody on the list matches" in c.get("/teams/NT01?agency=housing").text
    assert "1 of 3 people" in c.get("/teams/NT01?tier=wobbling&change=new").text
    assert c.get("/teams/NT01?tier=<b>").status_code == 400


def test_a_list_changed_after_publication_is_refused(place):
    cfg, _, c = place
    log_in(c, "ann")
    lst = cfg.out / "latest" / "lists" / "NT01.csv"
    lst.write_text(lst.read_text() + f"4,{pid(99)},,crisis,1.0,forged,health,new,4,1,1,,,\n")
    r = c.get("/teams/NT01")
    assert r.status_code == 503 and pid(99) not in r.text and "not the file that was published" in r.text
    assert audit_rows(cfg)[-1]["allowed"] == 0


def test_the_list_is_grouped_by_household_like_the_team_report(place):
    import re

    _, _, c = place
    log_in(c, "ann")
    page = c.get("/teams/NT01").text
    assert re.findall(r'<tbody class="household (crisis|wobbling)" id="household-(\d+)">', page) == [
        ("crisis", "1"), ("wobbling", "2"), ("crisis", "3")]
    assert page.count("<strong>Household ") == 3
