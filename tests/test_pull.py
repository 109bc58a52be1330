"""Pulling deliveries from agencies' drop locations: a real SFTP server on 127.0.0.1, and a local folder.

The SFTP server is asyncssh's, in a background thread of this process, with a
fresh host key and a password user, serving a temporary folder; it is stopped
in the fixture's finaliser. Credentials reach `pull_deliveries` the way they
do outside Airflow: an `AIRFLOW_CONN_<ID>` environment variable.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import write_place
from stratify.config import ConfigError, PlaceConfig
from stratify.ingest.drops import Credentials, resolve_credentials
from stratify.ingest.pull import pull_deliveries
from stratify.run.audit import start_run
from stratify.warehouse.database import connect

asyncssh = pytest.importorskip("asyncssh")

USER = "agency"
PASSWORD = "s3cret-Pa55word-for-tests"
AS_OF = date(2026, 11, 21)
CSV = b"record_id,person_id,event_date,event_type\n" + b"r1," + b"a" * 64 + b",2026-11-20,ae_attendance\n"


class _AgencyServer(asyncssh.SSHServer):
    """One user, with one password or one client key; everything else refused."""

    client_key = None  # set by the fixture: the public key the user may log in with

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == USER and password == PASSWORD

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key) -> bool:
        return username == USER and key.export_public_key() == self.client_key.export_public_key()


@pytest.fixture(scope="module")
def sftp_server(tmp_path_factory):
    """An SFTP server on 127.0.0.1 (random port) serving a temporary folder as its root."""
    root = tmp_path_factory.mktemp("sftp_root")
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    _AgencyServer.client_key = client_key.convert_to_public()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="sftp-server", daemon=True)
    thread.start()

    async def start():
        return await asyncssh.create_server(
            _AgencyServer, "127.0.0.1", 0, server_host_keys=[host_key],
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(root).encode()),
        )

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    try:
        yield SimpleNamespace(
            root=root,
            port=server.sockets[0].getsockname()[1],
            host_key=host_key.export_public_key("openssh").decode().strip(),
            client_private_key=client_key.export_private_key("openssh").decode(),
        )
    finally:
        server.close()
        asyncio.run_coroutine_threadsafe(server.wait_closed(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def _conn(monkeypatch, conn_id: str, server, password: str = PASSWORD, host_key: str | None = None) -> None:
    """An Airflow connection as the environment variable Airflow reads outside a task."""
    extra = {"host_key": host_key if host_key is not None else server.host_key}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({
        "conn_type": "sftp", "host": "127.0.0.1", "port": server.port, "login": USER, "password": password,
        "extra": extra,
    }))


def _drops_yaml(drops: dict[str, dict]) -> str:
    lines = ["drops:"]
    for source, spec in drops.items():
        lines.append(f"  {source}:")
        lines += [f"    {k}: {json.dumps(v)}" for k, v in spec.items()]
    return "\n".join(lines) + "\n"


def _place(tmp_path: Path, drops: dict[str, dict]) -> PlaceConfig:
    return write_place(tmp_path, extra=_drops_yaml(drops))


def _pulls(cfg: PlaceConfig, run_id: str | None = None) -> list[dict]:
    with connect(cfg) as con:
        # timestamps as text: DuckDB hands TIMESTAMPTZ to Python only with pytz, which is not installed
        cur = con.execute(
            "SELECT * EXCLUDE (pulled_at, remote_mtime), CAST(pulled_at AS VARCHAR) AS pulled_at, "
            "CAST(remote_mtime AS VARCHAR) AS remote_mtime FROM pulls "
            "WHERE CAST($run AS VARCHAR) IS NULL OR run_id = $run ORDER BY source, remote_path",
            {"run": run_id},
        )
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _landed(cfg: PlaceConfig) -> list[str]:
    return sorted(p.relative_to(cfg.landing).as_posix() for p in cfg.landing.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- SFTP


def test_sftp_pull_lands_verified_files_skips_in_flight_and_never_pulls_twice(tmp_path, sftp_server, monkeypatch):
    drop = sftp_server.root / "t1"
    health_done = _write(drop / "health" / "health_20261120.csv", CSV)
    growing = _write(drop / "health" / "health_20261121.csv", CSV[:30])
    police = _write(drop / "police" / "police_20261120.csv", CSV * 3)
    _write(drop / "health" / "health_20261119.csv.part", b"the agency is still uploading")
    _conn(monkeypatch, "agency_sftp", sftp_server)
    base = f"sftp://127.0.0.1:{sftp_server.port}/t1"
    cfg = _place(tmp_path, {
        "health": {"location": f"{base}/health", "conn_id": "agency_sftp"},
        "police": {"location": f"{base}/police", "conn_id": "agency_sftp"},
    })

    ctx = start_run(cfg, AS_OF)
    summary = pull_deliveries(cfg, ctx, settle_seconds=0, after_first_look=lambda: growing.write_bytes(CSV))

    assert summary["pulled"] == 2 and summary["skipped_in_flight"] == 1, summary
    assert summary["failed"] == summary["unreachable"] == 0
    assert summary["bytes"] == len(CSV) * 4
    assert _landed(cfg) == ["health/health_20261120.csv", "police/police_20261120.csv"]  # no .part left
    assert (cfg.landing / "health" / "health_20261120.csv").read_bytes() == CSV
    rows = {Path(r["remote_path"]).name: r for r in _pulls(cfg, ctx.run_id)}
    assert set(rows) == {"health_20261120.csv", "health_20261121.csv", "police_20261120.csv"}
    assert rows["health_20261120.csv"]["outcome"] == "pulled"
    assert rows["health_20261120.csv"]["sha256"] == _sha(CSV)
    assert rows["health_20261120.csv"]["remote_path"] == "/t1/health/health_20261120.csv"
    assert rows["health_20261120.csv"]["landing_path"] == str(cfg.landing / "health" / "health_20261120.csv")
    assert rows["police_20261120.csv"]["sha256"] == _sha(CSV * 3)
    assert rows["police_20261120.csv"]["size_bytes"] == len(CSV) * 3
    assert rows["health_20261121.csv"]["outcome"] == "skipped_in_flight"
    assert rows["health_20261121.csv"]["sha256"] is None
    assert not any(r["deleted_at_source"] for r in rows.values())
    assert health_done.exists() and police.exists()  # never deleted unless configured

    # next night: the file that was being written is complete now; nothing else is new
    ctx2 = start_run(cfg, AS_OF)
    summary2 = pull_deliveries(cfg, ctx2, settle_seconds=0)
    assert (summary2["pulled"], summary2["already_pulled"], summary2["skipped_in_flight"]) == (1, 2, 0), summary2
    assert (cfg.landing / "health" / "health_20261121.csv").read_bytes() == CSV

    # and the night after, once discover has moved the landing files on, nothing is pulled again
    for p in cfg.landing.rglob("*.csv"):
        p.unlink()
    ctx3 = start_run(cfg, AS_OF)
    summary3 = pull_deliveries(cfg, ctx3, settle_seconds=0)
    assert (summary3["pulled"], summary3["already_pulled"]) == (0, 3), summary3
    assert _landed(cfg) == []

    every_value = json.dumps(_pulls(cfg), default=str)
    assert PASSWORD not in every_value and USER + "@" not in every_value
    assert {r["location"] for r in _pulls(cfg)} == {f"{base}/health", f"{base}/police"}


def test_pulled_files_are_what_discover_then_sees(tmp_path, sftp_server, monkeypatch):
    from stratify.ingest.discover import discover_deliveries

    drop = sftp_server.root / "t2"
    _write(drop / "health_20261120.csv", CSV)
    _conn(monkeypatch, "agency_sftp2", sftp_server)
    cfg = _place(tmp_path, {"health": {"location": f"sftp://127.0.0.1:{sftp_server.port}/t2",
                                       "conn_id": "agency_sftp2"}})
    ctx = start_run(cfg, AS_OF)
    pull_deliveries(cfg, ctx, settle_seconds=0)
    found = discover_deliveries(cfg, ctx, settle_seconds=0)
    assert (found["files"], found["pending"]) == (1, 1), found
    with connect(cfg) as con:
        sha = con.execute("SELECT sha256 FROM deliveries WHERE run_id = $1", [ctx.run_id]).fetchall()
    assert sha == [(_pulls(cfg, ctx.run_id)[0]["sha256"],)]


def test_sftp_done_marker_and_delete_at_source(tmp_path, sftp_server, monkeypatch):
    drop = sftp_server.root / "t3"
    ready = _write(drop / "housing_20261120.csv", CSV)
    marker = _write(drop / "housing_20261120.csv.done", b"")
    waiting = _write(drop / "housing_20261121.csv", CSV)
    _conn(monkeypatch, "agency_sftp3", sftp_server)
    cfg = _place(tmp_path, {"housing": {"location": f"sftp://127.0.0.1:{sftp_server.port}/t3",
                                        "conn_id": "agency_sftp3", "done_marker": True, "delete_at_source": True}})

    ctx = start_run(cfg, AS_OF)
    summary = pull_deliveries(cfg, ctx, settle_seconds=0)

    assert (summary["pulled"], summary["skipped_no_marker"]) == (1, 1), summary
    assert _landed(cfg) == ["housing/housing_20261120.csv"]  # the marker is not copied
    assert not ready.exists() and not marker.exists()  # deleted once the landing copy was verified
    assert waiting.exists()  # no marker: neither pulled nor touched
    rows = {Path(r["remote_path"]).name: r for r in _pulls(cfg, ctx.run_id)}
    assert rows["housing_20261120.csv"]["deleted_at_source"] is True
    assert rows["housing_20261121.csv"]["outcome"] == "skipped_no_marker"
    assert rows["housing_20261121.csv"]["deleted_at_source"] is False


def test_wrong_password_or_host_key_is_recorded_not_raised_and_leaks_nothing(tmp_path, sftp_server, monkeypatch):
    _write(sftp_server.root / "t4" / "police_20261120.csv", CSV)
    other_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().strip()
    _conn(monkeypatch, "bad_password", sftp_server, password="not-the-password-123")
    _conn(monkeypatch, "bad_host_key", sftp_server, host_key=other_key)
    location = f"sftp://127.0.0.1:{sftp_server.port}/t4"
    for conn_id in ("bad_password", "bad_host_key"):
        case = tmp_path / conn_id
        case.mkdir()
        cfg = _place(case, {"police": {"location": location, "conn_id": conn_id}})
        ctx = start_run(cfg, AS_OF)
        summary = pull_deliveries(cfg, ctx, settle_seconds=0)
        assert (summary["pulled"], summary["unreachable"]) == (0, 1), summary
        assert "could not be pulled" in summary["message"]
        [row] = _pulls(cfg, ctx.run_id)
        assert row["outcome"] == "unreachable" and row["remote_path"] is None
        assert "not-the-password-123" not in json.dumps(row, default=str)
        if conn_id == "bad_host_key":
            assert "host key" in row["detail"]
        assert _landed(cfg) == []


def test_sftp_login_with_a_private_key_from_the_connection(tmp_path, sftp_server, monkeypatch):
    _write(sftp_server.root / "t6" / "outcomes_20261120.csv", CSV)
    monkeypatch.setenv("AIRFLOW_CONN_KEY_LOGIN", json.dumps({
        "conn_type": "sftp", "login": USER,
        "extra": {"private_key": sftp_server.client_private_key, "no_host_key_check": True},
    }))
    cfg = _place(tmp_path, {"outcomes": {"location": f"sftp://127.0.0.1:{sftp_server.port}/t6", "conn_id": "key_login"}})
    ctx = start_run(cfg, AS_OF)
    summary = pull_deliveries(cfg, ctx, settle_seconds=0)
    assert summary["pulled"] == 1, summary
    assert (cfg.landing / "outcomes" / "outcomes_20261120.csv").read_bytes() == CSV
    assert "PRIVATE KEY" not in json.dumps(_pulls(cfg), default=str)


def test_sftp_connection_must_pin_a_host_key(tmp_path, sftp_server, monkeypatch):
    _conn(monkeypatch, "no_key", sftp_server, host_key="")
    cfg = _place(tmp_path, {"health": {"location": f"sftp://127.0.0.1:{sftp_server.port}/t5", "conn_id": "no_key"}})
    with pytest.raises(ConfigError, match="host_key"):
        pull_deliveries(cfg, start_run(cfg, AS_OF), settle_seconds=0)


def test_unknown_connection_is_a_configuration_error(tmp_path, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_NOT_DEFINED_ANYWHERE", raising=False)
    cfg = _place(tmp_path, {"health": {"location": "sftp://127.0.0.1:1/x", "conn_id": "not_defined_anywhere"}})
    with pytest.raises(ConfigError, match="AIRFLOW_CONN_NOT_DEFINED_ANYWHERE"):
        pull_deliveries(cfg, start_run(cfg, AS_OF), settle_seconds=0)


def test_resolve_credentials_reads_an_airflow_uri_and_hides_it(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_URI_STYLE", "sftp://agent:p%40ss-word-99@drop.example:2222/?host_key=AAAA")
    creds = resolve_credentials("uri_style")
    assert isinstance(creds, Credentials)
    assert (creds["login"], creds["password"], creds["port"]) == ("agent", "p@ss-word-99", 2222)
    assert creds["extra"] == {"host_key": "AAAA"}
    assert "p@ss-word-99" not in repr(creds) and "p@ss-word-99" not in str(creds)


# --------------------------------------------------------------------------- local folder


def test_local_folder_drop_pulls_and_never_overwrites_a_different_landing_file(tmp_path):
    drop = tmp_path / "agency_drop"
    first = _write(drop / "social_care_20261120.csv", CSV)
    clash = _write(drop / "social_care_20261121.csv", CSV + b"r2," + b"b" * 64 + b",2026-11-20,adult_contact\n")
    same = _write(drop / "social_care_20261122.csv", CSV)
    _write(drop / ".hidden", b"x")
    cfg = _place(tmp_path, {"social_care": {"location": "agency_drop"}})
    assert cfg.drops[0].location == str(drop)
    theirs = _write(cfg.landing / "social_care" / "social_care_20261121.csv", b"a different file already here")
    _write(cfg.landing / "social_care" / "social_care_20261122.csv", CSV)

    ctx = start_run(cfg, AS_OF)
    summary = pull_deliveries(cfg, ctx, settle_seconds=0)

    assert (summary["pulled"], summary["refused_name_clash"]) == (2, 1), summary
    assert theirs.read_bytes() == b"a different file already here"
    assert (cfg.landing / "social_care" / "social_care_20261120.csv").read_bytes() == CSV
    assert first.exists() and clash.exists() and same.exists()
    rows = {Path(r["remote_path"]).name: r for r in _pulls(cfg, ctx.run_id)}
    assert set(rows) == {"social_care_20261120.csv", "social_care_20261121.csv", "social_care_20261122.csv"}
    assert rows["social_care_20261121.csv"]["outcome"] == "refused_name_clash"
    assert "not overwritten" in rows["social_care_20261121.csv"]["detail"]
    assert rows["social_care_20261122.csv"]["outcome"] == "pulled"
    assert "already in the landing folder" in rows["social_care_20261122.csv"]["detail"]
    assert rows["social_care_20261120.csv"]["location"] == str(drop)

    # once the landing file is processed, the clashing delivery comes in on the next run
    theirs.unlink()
    summary2 = pull_deliveries(cfg, start_run(cfg, AS_OF), settle_seconds=0)
    assert (summary2["pulled"], summary2["already_pulled"]) == (1, 2), summary2
    assert (cfg.landing / "social_care" / "social_care_20261121.csv").read_bytes() == clash.read_bytes()


def test_local_drop_delete_at_source_and_a_missing_folder(tmp_path):
    drop = tmp_path / "drop"
    delivered = _write(drop / "register_20261120.csv", CSV)
    cfg = _place(tmp_path, {"register": {"location": "drop", "delete_at_source": True},
                            "outcomes": {"location": "not_mounted"}})
    summary = pull_deliveries(cfg, start_run(cfg, AS_OF), settle_seconds=0)
    assert (summary["pulled"], summary["unreachable"]) == (1, 1), summary
    assert summary["sources"]["outcomes"] == {"unreachable": 1}
    assert not delivered.exists()
    assert (cfg.landing / "register" / "register_20261120.csv").read_bytes() == CSV


def test_no_drops_means_nothing_to_pull(tmp_path):
    cfg = write_place(tmp_path)
    _write(cfg.landing / "health" / "health_20261120.csv", CSV)
    summary = pull_deliveries(cfg, start_run(cfg, AS_OF))
    assert summary["drops"] == 0 and "nothing to pull" in summary["message"]
    assert _landed(cfg) == ["health/health_20261120.csv"]
    assert _pulls(cfg) == []


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("drops, match", [
    ({"health": {"location": "sftp://agent:hunter22@127.0.0.1/in", "conn_id": "c"}}, "credentials do not belong"),
    ({"health": {"location": "sftp://127.0.0.1/in"}}, "conn_id: required"),
    ({"health": {"location": "sftp://127.0.0.1/in?password=hunter22", "conn_id": "c"}}, "query"),
    ({"health": {"location": "ftp://127.0.0.1/in", "conn_id": "c"}}, "not supported"),
    ({"healthcare": {"location": "drop"}}, "not a source of the contract"),
    ({"health": {"location": "landing/health"}}, "inside the landing folder"),
    ({"health": {"location": "drop", "conn_id": "c"}}, "needs no connection"),
    ({"health": {"location": "drop", "delete_at_source": "yes"}}, "expected true or false"),
    ({"health": {"location": "drop", "password": "hunter22"}}, "unknown key"),
])
def test_drops_configuration_is_checked(tmp_path, drops, match):
    with pytest.raises(ConfigError, match=match) as err:
        _place(tmp_path, drops)
    assert "hunter22" not in str(err.value)


def test_s3_without_s3fs_says_how_to_install_it(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "s3fs" else real(name, *a))
    cfg = _place(tmp_path, {"police": {"location": "s3://agency-bucket/police"}})
    assert cfg.drops[0].scheme == "s3"
    with pytest.raises(ConfigError, match=r"stratify\[s3\]"):
        pull_deliveries(cfg, start_run(cfg, AS_OF), settle_seconds=0)


def test_pull_is_the_first_stage():
    from stratify.run.pipeline import STAGES

    assert STAGES[0] == ("pull", "stratify.ingest.pull:pull_deliveries")
    assert [s[0] for s in STAGES][:2] == ["pull", "discover"]
