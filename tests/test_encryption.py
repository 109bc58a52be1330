"""An encrypted warehouse: same tables and stages, nothing readable on disk, the key never shown.

DuckDB writes encrypted files securely only with its httpfs extension
(OpenSSL). Where that is not installed (this project's test machines are
offline), the tests set `encryption.allow_unsafe_crypto`, DuckDB's mbedtls
fallback: the file format, the key handling and every check below are the
same, only the randomness of DuckDB's nonces differs.
"""

from __future__ import annotations

import logging
import os
import traceback
from datetime import date
from pathlib import Path

import duckdb
import pytest

from helpers import no_settle_pause, write_place
from stratify.config import ConfigError, load_config
from stratify.warehouse.database import DDL_DIR, WarehouseError, connect, fetch_one
from stratify.warehouse.encryption_key import WarehouseKeyError

KEY_ENV = "STRATIFY_TEST_WAREHOUSE_KEY"
KEY = "k3y-0f-the-DATA-controller-5f2a9c0e71d4"
MARKER = "c0ffee" * 10 + "beef"  # a pseudonym (64 hex) that must never be on disk in clear


def _httpfs_available() -> bool:
    con = duckdb.connect()
    try:
        con.execute("LOAD httpfs")
        return True
    except duckdb.Error:
        return False
    finally:
        con.close()


UNSAFE = "false" if _httpfs_available() else "true"


def encrypted_place(tmp: Path, extra: str = "", key_env: str = KEY_ENV):
    return write_place(tmp, extra=f"encryption:\n  key_env: {key_env}\n  allow_unsafe_crypto: {UNSAFE}\n" + extra)


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def test_round_trip_on_an_encrypted_file(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    cfg = encrypted_place(tmp_path)
    with connect(cfg) as con:
        con.execute(
            "INSERT INTO access_log (accessed_at, user_name, action, target, reason, n_people) "
            "VALUES (now(), 'tester', 'export_list', $1, 'a test of encryption at rest', 1)", [MARKER]
        )
        applied = {r[0] for r in con.execute("SELECT file_name FROM schema_migrations").fetchall()}
        database = fetch_one(con, "SELECT current_database()")[0]
    assert applied == {p.name for p in DDL_DIR.glob("*.sql")}
    assert database == "wh"
    with connect(cfg, read_only=True) as con:
        assert fetch_one(con, "SELECT target FROM access_log")[0] == MARKER
    on_disk = files_under(tmp_path)
    assert cfg.warehouse in on_disk
    for path in on_disk:
        if path.suffix not in (".yaml", ".csv"):
            data = path.read_bytes()
            assert MARKER.encode() not in data, path
            assert b"export_list" not in data, path


def test_the_write_ahead_log_is_encrypted(tmp_path, monkeypatch):
    """A process that dies before its checkpoint leaves a WAL: it must hold nothing in clear, and replay with the key."""
    import subprocess
    import sys

    monkeypatch.setenv(KEY_ENV, KEY)
    cfg = encrypted_place(tmp_path)
    code = (
        "import os\n"
        "from stratify.config import load_config\n"
        "from stratify.warehouse.database import connect\n"
        f"cfg = load_config({str(cfg.path)!r})\n"
        "with connect(cfg) as con:\n"
        "    con.execute(\"SET wal_autocheckpoint = '1GB'\")\n"
        f"    con.execute(\"INSERT INTO access_log VALUES (now(), 'u', 'x', {MARKER!r}, 'crash test of the log', 1)\")\n"
        "    os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ}, cwd=tmp_path)
    wal = cfg.warehouse.with_name(cfg.warehouse.name + ".wal")
    assert wal.exists() and wal.stat().st_size > 0
    assert MARKER.encode() not in wal.read_bytes()
    with connect(cfg, read_only=True) as con:
        assert fetch_one(con, "SELECT count(*) FROM access_log WHERE target = $1", [MARKER])[0] == 1


def test_spills_to_temporary_files_are_encrypted(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    cfg = encrypted_place(tmp_path, extra="duckdb:\n  threads: 1\n  memory_limit: 12MB\n")
    temp_dir = cfg.warehouse.parent / f".{cfg.warehouse.name}.tmp"
    with connect(cfg) as con:
        con.execute("SET preserve_insertion_order = false")
        con.execute("CREATE TABLE src AS SELECT 'TMPMARK' || md5(i::VARCHAR) || md5((i + 1)::VARCHAR) AS s "
                    "FROM range(300000) r(i)")
        con.execute("CREATE TEMP TABLE big AS SELECT s || 'z' AS s FROM src")  # larger than memory: spills
        spilled = [p.read_bytes() for p in files_under(temp_dir)] if temp_dir.exists() else []
    assert sum(map(len, spilled)) > 0, "the test did not make DuckDB spill"
    assert sum(data.count(b"TMPMARK") for data in spilled) == 0


def test_the_file_cannot_be_opened_without_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    cfg = encrypted_place(tmp_path)
    with connect(cfg):
        pass
    with pytest.raises(duckdb.Error, match="encrypted"):
        duckdb.connect(str(cfg.warehouse)).close()
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(WarehouseKeyError) as err:
        with connect(cfg):
            pass
    assert KEY_ENV in str(err.value) and KEY not in str(err.value)
    # a configuration that forgets `encryption:` gets a sentence saying what to add
    (tmp_path / "plain").mkdir()
    plain = write_place(tmp_path / "plain", extra="# encrypted file, no encryption section\n")
    plain = load_config(_point_at(plain.path, cfg.warehouse))
    with pytest.raises(WarehouseError, match="is encrypted: add `encryption:"):
        with connect(plain):
            pass


def _point_at(path: Path, warehouse: Path) -> Path:
    """Rewrite a written place's `warehouse:` to another file."""
    text = path.read_text(encoding="utf-8").replace("warehouse: wh.duckdb", f"warehouse: {warehouse}")
    path.write_text(text, encoding="utf-8")
    return path


def test_a_wrong_key_is_named_by_its_variable_never_shown(tmp_path, monkeypatch, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(KEY_ENV, KEY)
    cfg = encrypted_place(tmp_path)
    with connect(cfg):
        pass
    wrong = "an-entirely-different-key-123456"
    monkeypatch.setenv(KEY_ENV, wrong)
    with pytest.raises(WarehouseError) as err:
        with connect(cfg):
            pass
    text = "".join(traceback.format_exception(err.value))
    assert "does not open the warehouse" in str(err.value) and KEY_ENV in str(err.value)
    out = capsys.readouterr()
    for secret in (KEY, wrong):
        assert secret not in text
        assert secret not in caplog.text and secret not in out.out and secret not in out.err


def test_a_short_key_is_refused_without_showing_it(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "short-key")
    cfg = encrypted_place(tmp_path)
    with pytest.raises(WarehouseKeyError, match="too short") as err:
        with connect(cfg):
            pass
    assert "short-key" not in str(err.value)


def test_without_httpfs_nothing_is_written_unless_unsafe_crypto_is_allowed(tmp_path, monkeypatch):
    if _httpfs_available():
        pytest.skip("httpfs is installed here: DuckDB writes securely, the refusal cannot be seen")
    monkeypatch.setenv(KEY_ENV, KEY)
    cfg = write_place(tmp_path, extra=f"encryption:\n  key_env: {KEY_ENV}\n")
    with pytest.raises(WarehouseError, match="httpfs") as err:
        with connect(cfg):
            pass
    assert KEY not in str(err.value)
    assert not cfg.warehouse.exists()


def test_the_configuration_names_where_the_key_is_never_the_key(tmp_path):
    for bad in (f"encryption:\n  key: {KEY}\n", f"encryption:\n  encryption_key: {KEY}\n",
                f"encryption_key: {KEY}\n", f"encryption:\n  key_env: {KEY}\n",
                f"encryption:\n  airflow_variable: '{KEY} !'\n"):
        with pytest.raises(ConfigError) as err:
            write_place(tmp_path, extra=bad)
        assert KEY not in str(err.value), bad
    cfg = write_place(tmp_path, extra="encryption:\n  airflow_variable: stratify_warehouse_key\n")
    assert cfg.encryption.key_env == "STRATIFY_WAREHOUSE_KEY"
    assert cfg.encryption.airflow_variable == "stratify_warehouse_key"
    assert write_place(tmp_path).encryption is None


def test_the_key_can_come_from_an_airflow_secrets_backend(tmp_path, monkeypatch):
    """Airflow's environment-variable secrets backend (AIRFLOW_VAR_<NAME>) stands in for Vault and friends."""
    monkeypatch.delenv("STRATIFY_WAREHOUSE_KEY", raising=False)
    monkeypatch.setenv("AIRFLOW_VAR_STRATIFY_TEST_WH_KEY", KEY)
    cfg = write_place(tmp_path, extra=f"encryption:\n  airflow_variable: stratify_test_wh_key\n"
                                      f"  allow_unsafe_crypto: {UNSAFE}\n")
    with connect(cfg) as con:
        con.execute("INSERT INTO access_log VALUES (now(), 'u', 'x', $1, 'airflow secret test', 1)", [MARKER])
    assert MARKER.encode() not in cfg.warehouse.read_bytes()
    monkeypatch.delenv("AIRFLOW_VAR_STRATIFY_TEST_WH_KEY")
    with pytest.raises(WarehouseKeyError, match="Airflow variable stratify_test_wh_key"):
        with connect(cfg):
            pass


@pytest.mark.slow
def test_the_whole_pipeline_publishes_from_an_encrypted_warehouse(tmp_path, monkeypatch, caplog, capsys):
    from stratify.run.pipeline import run_pipeline
    from stratify.synth.generate import synthesize

    caplog.set_level(logging.INFO)
    monkeypatch.setenv(KEY_ENV, KEY)
    as_of = date(2026, 11, 20)
    cfg = encrypted_place(tmp_path, extra="model:\n  history_months: 16\n")  # a shorter training history: faster
    synthesize(cfg, people=1000, as_of=as_of, seed=3)
    with no_settle_pause():
        result = run_pipeline(cfg, as_of)
    assert result["status"] == "published", result
    lists = sorted((cfg.out / "latest" / "lists").glob("*.csv"))
    assert lists and all(p.stat().st_size > 0 for p in lists)
    with connect(cfg, read_only=True) as con:
        assert fetch_one(con, "SELECT status FROM runs WHERE run_id = $1", [result["run_id"]])[0] == "published"
        person = fetch_one(con, "SELECT person_id FROM persons LIMIT 1")[0]
    assert person.encode() not in cfg.warehouse.read_bytes()
    out = capsys.readouterr()
    assert KEY not in caplog.text and KEY not in out.out and KEY not in out.err
    assert KEY not in repr(result)


@pytest.mark.parametrize("encrypted", [True, False])
def test_the_warehouse_file_is_owner_and_group_only(tmp_path, monkeypatch, encrypted):
    import stat

    monkeypatch.setenv(KEY_ENV, KEY)
    cfg = encrypted_place(tmp_path) if encrypted else write_place(tmp_path)
    old = os.umask(0o022)
    try:
        with connect(cfg):
            pass
        with connect(cfg):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(cfg.warehouse.stat().st_mode) & 0o007 == 0
