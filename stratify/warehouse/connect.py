"""Opening the place's DuckDB warehouse: resource limits, encryption, permissions, migrated schema.

An encrypted warehouse (`encryption:` in the place configuration) is
attached as `wh` with DuckDB's `ENCRYPTION_KEY` (AES-GCM; DuckDB encrypts
the write-ahead log with it, and temporary files once `temp_file_encryption`
is on, which `connect` sets) and made the default catalog, so every table
name and DDL file works unchanged. The key is bound as a parameter, never
formatted into SQL, logged or put into an error message.

A file that cannot be opened raises `WarehouseDamaged` (the file itself is
damaged or cut short), `WarehouseLocked` (another program holds it) or
`WarehouseError`, each carrying what to do.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from stratify.config import PlaceConfig
from stratify.errors import WarehouseDamaged, WarehouseError, WarehouseLocked
from stratify.warehouse.encryption_key import scrub, warehouse_key
from stratify.warehouse.migrate import migrate

ENCRYPTED_ALIAS = "wh"

log = logging.getLogger(__name__)
_WARNED_UNSAFE: set[Path] = set()  # warn once per process, not on every connect

# DuckDB 2.0 has no exception type for a damaged file: a checksum mismatch is a bare duckdb.Error, a file that
# is not DuckDB's or is cut short an IOException like any other I/O failure; a lock held by another process
# is an IOException too. So these are told apart by DuckDB's words, and only on DuckDB's own exceptions.
CORRUPT_RE = re.compile(r"not a valid DuckDB database|Corrupt database file|checksum .* does not match",
                        re.IGNORECASE)
SHORT_READ = "Could not read enough bytes from file"  # damage only when it is the warehouse's own file
LOCKED_RE = re.compile(r"Could not set lock|Conflicting lock|lock on file|database is locked", re.IGNORECASE)


@contextmanager
def connect(cfg: PlaceConfig, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the place's warehouse with explicit resource limits, migrated to the current DDL.

    Only one process may hold the file for writing; the pipeline's writing
    steps are serialised (one run at a time, a one-slot Airflow pool).
    """
    from stratify.files.permissions import make_private_dir, tighten_umask

    tighten_umask()  # DuckDB creates the file, its .wal and spill files itself: never for others to read
    if not cfg.warehouse.parent.exists():
        make_private_dir(cfg.warehouse.parent)
    tmp = cfg.warehouse.parent / f".{cfg.warehouse.name}.tmp"
    settings = {"threads": cfg.duckdb.threads, "memory_limit": cfg.duckdb.memory_limit, "temp_directory": str(tmp)}
    try:
        if cfg.encryption is not None:
            con = _open_encrypted(cfg, read_only, settings)
        else:
            con = duckdb.connect(str(cfg.warehouse), read_only=read_only, config=settings)
    except duckdb.IOException as exc:
        raise open_error(cfg, exc) from exc
    except duckdb.Error as exc:
        if "encrypted" not in str(exc):  # DuckDB gives no type for "this file is encrypted"
            raise open_error(cfg, exc) from exc
        raise WarehouseError(
            f"the warehouse {cfg.warehouse} is encrypted: add `encryption: {{key_env: STRATIFY_WAREHOUSE_KEY}}` "
            "to the place configuration and set that environment variable to the key"
        ) from None
    try:
        if not read_only:
            _restrict_files(cfg)
            try:
                migrate(con)
            except (duckdb.Error, WarehouseError) as exc:  # the first read of a damaged file fails here
                if not is_corrupt(exc, cfg.warehouse):
                    raise
                raise open_error(cfg, exc) from exc
        yield con
    finally:
        con.close()


def _duckdb_errors(exc: BaseException | None) -> Iterator[duckdb.Error]:
    """DuckDB's own exceptions in `exc`'s chain."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, duckdb.Error):
            yield exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1


def is_corrupt(exc: BaseException | None, warehouse: Path | None = None) -> bool:
    """Whether the exception is (or was caused by) a WarehouseDamaged, or DuckDB saying the file is damaged."""
    chain, seen = exc, 0
    while chain is not None and seen < 20:
        if isinstance(chain, WarehouseDamaged):
            return True
        chain, seen = chain.__cause__ or chain.__context__, seen + 1
    for e in _duckdb_errors(exc):
        text = str(e)
        if CORRUPT_RE.search(text) or (warehouse is not None and isinstance(e, duckdb.IOException)
                                       and SHORT_READ in text and str(warehouse) in text):
            return True
    return False


def is_locked(exc: BaseException | None) -> bool:
    """Whether DuckDB refused the file because another process holds it (see the note on LOCKED_RE)."""
    return any(isinstance(e, getattr(duckdb, "ResourceInUseException", ())) or
               (isinstance(e, duckdb.IOException) and LOCKED_RE.search(str(e))) for e in _duckdb_errors(exc))


def damaged_message(cfg: PlaceConfig, exc: BaseException) -> str:
    """The one sentence for a damaged warehouse: which file, DuckDB's words, how to get a good one back."""
    return (f"the warehouse {cfg.warehouse} is damaged (corrupt: {exc}); restore it from its last backup, "
            f"or rebuild it by loading the archived deliveries in {cfg.archive}, then run again")


def open_error(cfg: PlaceConfig, exc: Exception) -> WarehouseError:
    """Why the warehouse file cannot be opened, as the typed error: damaged, held by another program, or other.

    Damage is checked first: DuckDB's checksum message says "block", which holds "lock".
    """
    text = str(exc)
    if is_corrupt(exc, cfg.warehouse):
        return WarehouseDamaged(damaged_message(cfg, exc))
    if is_locked(exc):
        return WarehouseLocked(f"the warehouse {cfg.warehouse} is in use by another program ({text}); wait for "
                               "it to finish or stop it, then run again")
    return WarehouseError(f"cannot open the warehouse {cfg.warehouse}: {text}. If another stratify run or program "
                          "holds it, wait for it to finish; if the file is damaged, rebuild it from the archive.")


def _restrict_files(cfg: PlaceConfig) -> None:
    """The warehouse file and its write-ahead log are owner/group-only (0o640), like every output."""
    from stratify.files.permissions import restrict

    for path in (cfg.warehouse, cfg.warehouse.with_name(cfg.warehouse.name + ".wal")):
        restrict(path)  # by descriptor, never through a link; 0o640 whatever the umask


def _open_encrypted(cfg: PlaceConfig, read_only: bool, settings: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the encrypted warehouse attached as the default catalog.

    Errors are rewritten without the key (and without DuckDB's own chained
    exception), saying what to do: set the variable, use the right key, or
    install the crypto DuckDB needs to write encrypted files securely.
    """
    key = warehouse_key(cfg)
    con = duckdb.connect(":memory:", config=settings)
    try:
        _enable_crypto(con, cfg)
        con.execute("SET temp_file_encryption = true")  # off by default in DuckDB 2.0: spills were plaintext
        options = "ENCRYPTION_KEY $key, ENCRYPTION_CIPHER 'GCM'" + (", READ_ONLY" if read_only else "")
        con.execute(f"ATTACH $path AS {ENCRYPTED_ALIAS} ({options})", {"path": str(cfg.warehouse), "key": key})
        con.execute(f"USE {ENCRYPTED_ALIAS}")
    except (duckdb.Error, WarehouseError) as exc:
        con.close()
        locked = is_locked(exc)
        kind = WarehouseLocked if locked else WarehouseError
        raise kind(_encrypted_open_message(cfg, scrub(str(exc), key), locked)) from None
    return con


def _enable_crypto(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig) -> None:
    """Load OpenSSL crypto (the httpfs extension); without it, only if the place allows DuckDB's unsafe fallback.

    DuckDB's built-in mbedtls module can read encrypted files but, by
    DuckDB's own account, does not write them securely (weak random nonces),
    so it refuses unless `force_mbedtls_unsafe` is set.
    """
    try:
        con.execute("LOAD httpfs")
        return
    except duckdb.Error:
        pass
    if not (cfg.encryption and cfg.encryption.allow_unsafe_crypto):
        raise WarehouseError(
            "DuckDB's httpfs extension (OpenSSL), which DuckDB needs to write encrypted files securely, is not "
            "installed: run `INSTALL httpfs` once in DuckDB on this machine (or copy the extension file for this "
            "DuckDB version into ~/.duckdb/extensions/); encryption.allow_unsafe_crypto is for tests only"
        )
    if cfg.warehouse not in _WARNED_UNSAFE:
        _WARNED_UNSAFE.add(cfg.warehouse)
        log.warning("warehouse %s: writing with DuckDB's mbedtls fallback (force_mbedtls_unsafe): "
                    "not securely encrypted; install httpfs for production", cfg.warehouse)
    con.execute("SET force_mbedtls_unsafe = true")


def _encrypted_open_message(cfg: PlaceConfig, detail: str, locked: bool) -> str:
    """A plain sentence for a failed encrypted attach; `detail` is already scrubbed of the key.

    DuckDB raises the same exception types for a wrong key and an unencrypted file as for other
    attach failures, so those two are told by its words.
    """
    enc = cfg.encryption
    named = " / ".join(n for n in ((enc.key_env if enc else ""), (enc.airflow_variable if enc else "")) if n)
    if "Wrong encryption key" in detail:
        return (f"the key in {named} does not open the warehouse {cfg.warehouse}: it was encrypted with another "
                "key; set the right key (ask the data controller)")
    if "is not encrypted" in detail:
        return (f"the warehouse {cfg.warehouse} is not encrypted but the configuration says it is; encrypt it "
                "(copy it into a new encrypted file with `COPY FROM DATABASE`) or remove `encryption:`")
    if locked:
        return (f"cannot open the warehouse {cfg.warehouse}: {detail}. If another stratify run or program holds "
                "it, wait for it to finish")
    return f"cannot open the encrypted warehouse {cfg.warehouse}: {detail}"
