"""The night's `app_access` stage: the app's audit rows into the warehouse's `access_log`, each once, the app's file untouched."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3

import duckdb
import pytest
from app_place import AS_OF, RUN_ID, Clock, add_users, audit_rows, client, log_in, make_published_place

from helpers import pid
from stratify.access.app_log import copy_app_access, read_only
from stratify.config import load_config
from stratify.run.context import RunContext


@pytest.fixture(scope="module")
def template_place(tmp_path_factory):
    root = tmp_path_factory.mktemp("app_access")
    add_users(make_published_place(root))
    return root


@pytest.fixture
def place(template_place, tmp_path):
    shutil.copytree(template_place, tmp_path / "place", symlinks=True)
    cfg = load_config(tmp_path / "place" / "place.yaml")
    return cfg, client(cfg, Clock())


def night(cfg, n: int = 1) -> dict:
    return copy_app_access(cfg, RunContext(f"{RUN_ID[:-1]}{n}Z", cfg.place, AS_OF))


def warehouse_rows(cfg, sql: str) -> list[tuple]:
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def app_file_digest(cfg) -> str:
    return hashlib.sha256(cfg.app_database.read_bytes()).hexdigest()


def test_the_apps_views_and_refusals_reach_access_log_once_each(place):
    cfg, c = place
    log_in(c, "ann")
    c.get("/teams/NT01")
    c.get(f"/teams/NT01/people/{pid(1)}")
    c.get(f"/teams/NT02/people/{pid(11)}")  # another team's person: refused, and logged
    app = audit_rows(cfg)
    assert night(cfg) == {"app_database": str(cfg.app_database), "copied": len(app), "read": len(app),
                          "last_seq": app[-1]["seq"]}
    logged = warehouse_rows(cfg, "SELECT user_name, action, target, reason FROM access_log ORDER BY accessed_at")
    assert ("ann", "app.view_person", pid(1)) in [r[:3] for r in logged]
    assert ("ann", "app.view_person", f"person {pid(11)} of NT02", "refused: not this user's team") in logged
    assert sorted(r[1] for r in logged) == sorted(f"app.{r['action']}" for r in app)  # every row, once
    copied = warehouse_rows(cfg, "SELECT app_seq, row_hash, prev_hash FROM app_access ORDER BY app_seq")
    assert copied == [(r["seq"], r["row_hash"], r["prev_hash"]) for r in app]  # the chain, checkable here

    assert night(cfg, 2)["copied"] == 0  # a second night copies nothing again
    assert len(warehouse_rows(cfg, "SELECT * FROM access_log")) == len(app)
    c.get("/teams/NT01?tier=crisis")
    third = night(cfg, 3)
    assert third["copied"] == 1 and third["read"] == 1  # only the rows after the last one copied are read
    assert warehouse_rows(cfg, "SELECT count(*), count(DISTINCT row_hash) FROM app_access") == [(len(app) + 1,) * 2]
    assert [r for (r,) in warehouse_rows(cfg, "SELECT reason FROM access_log WHERE action = 'app.view_list'")
            if r.endswith("tier=crisis")] == ["run 20261120T020000000000Z; 2 people shown tier=crisis"]


def test_the_night_opens_the_apps_database_read_only(place):
    cfg, c = place
    log_in(c, "ann")
    before = app_file_digest(cfg)
    night(cfg)
    assert app_file_digest(cfg) == before
    con = read_only(cfg.app_database)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            con.execute("INSERT INTO delivery_seq VALUES ('2026-01-01', 1)")
    finally:
        con.close()


def test_a_replaced_app_database_is_read_whole_and_nothing_is_copied_twice(place, tmp_path):
    cfg, c = place
    log_in(c, "ann")
    first = night(cfg)["copied"]
    for suffix in ("", "-wal", "-shm"):  # a new, empty app database: its chain starts again at row 1
        cfg.app_database.with_name(cfg.app_database.name + suffix).unlink(missing_ok=True)
    add_users(cfg)
    c = client(cfg, Clock())
    log_in(c, "nia")
    again = night(cfg, 2)
    assert again["copied"] == len(audit_rows(cfg)) and again["last_seq"] == len(audit_rows(cfg))
    assert warehouse_rows(cfg, "SELECT count(*), count(DISTINCT row_hash) FROM app_access") == [(first + again["copied"],) * 2]


def test_no_app_or_an_unreadable_one_fails_nothing(place):
    cfg, _ = place
    cfg.app_database.unlink()
    for suffix in ("-wal", "-shm"):
        cfg.app_database.with_name(cfg.app_database.name + suffix).unlink(missing_ok=True)
    assert night(cfg) == {"app_database": None, "copied": 0}
    assert not cfg.app_database.exists()  # never created by the night
    cfg.app_database.write_bytes(b"not a database at all" * 100)
    summary = night(cfg)
    assert summary["copied"] == 0 and "could not be read" in summary["warning"] and "next night" in summary["warning"]
