"""The DuckDB warehouse: opening it, applying the DDL in `warehouse/`, running SQL files.

SQL lives in `.sql` files. Values are always bound as DuckDB parameters
(`$as_of`); the only text ever substituted into SQL is a table name from a
fixed allow-list (`render_identifier`). A failing statement raises
`WarehouseError` naming the file, the step and the parameters.

An encrypted warehouse (`encryption:` in the place configuration) is
attached as `wh` with DuckDB's `ENCRYPTION_KEY` (AES-GCM; DuckDB encrypts
the write-ahead log with it, and temporary files once `temp_file_encryption`
is on, which `connect` sets) and made the default catalog, so every table
name and DDL file works unchanged. The key is bound as a parameter, never
formatted into SQL, logged or put into an error message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from stratify.config import PlaceConfig
from stratify.resources import DDL_DIR, FEATURES_DIR, PROJECT_ROOT, SQL_DIR  # noqa: F401 (re-exported)
from stratify.warehouse.encryption_key import scrub, warehouse_key

IDENTIFIER_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
ENCRYPTED_ALIAS = "wh"

log = logging.getLogger(__name__)
_WARNED_UNSAFE: set[Path] = set()  # warn once per process, not on every connect


class WarehouseError(RuntimeError):
    """A warehouse statement failed; the message says which file and step."""


@contextmanager
def connect(cfg: PlaceConfig, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the place's warehouse with explicit resource limits, migrated to the current DDL.

    Only one process may hold the file for writing; the pipeline's writing
    steps are serialised (one run at a time, a one-slot Airflow pool).
    """
    cfg.warehouse.parent.mkdir(parents=True, exist_ok=True)
    tmp = cfg.warehouse.parent / f".{cfg.warehouse.name}.tmp"
    settings = {"threads": cfg.duckdb.threads, "memory_limit": cfg.duckdb.memory_limit, "temp_directory": str(tmp)}
    try:
        if cfg.encryption is not None:
            con = _open_encrypted(cfg, read_only, settings)
        else:
            con = duckdb.connect(str(cfg.warehouse), read_only=read_only, config=settings)
    except duckdb.IOException as exc:
        raise WarehouseError(_open_message(cfg, exc)) from exc
    except duckdb.Error as exc:
        if "encrypted" not in str(exc):
            raise WarehouseError(_open_message(cfg, exc)) from exc
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
                raise WarehouseError(_open_message(cfg, exc)) from exc
        yield con
    finally:
        con.close()


CORRUPT_RE = re.compile(r"not a valid DuckDB database|Corrupt database file|checksum .* does not match",
                        re.IGNORECASE)
SHORT_READ = "Could not read enough bytes from file"  # damage only when it is the warehouse's own file
LOCKED_RE = re.compile(r"Could not set lock|Conflicting lock|lock on file|database is locked", re.IGNORECASE)


def is_corrupt(exc: BaseException | None, warehouse: Path | None = None) -> bool:
    """Whether DuckDB's error (or one it caused) says the database file itself is damaged or cut short."""
    while exc is not None:
        text = str(exc)
        if CORRUPT_RE.search(text) or (warehouse is not None and SHORT_READ in text and str(warehouse) in text):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def damaged_message(cfg: PlaceConfig, exc: BaseException) -> str:
    """The one sentence for a damaged warehouse: which file, DuckDB's words, how to get a good one back."""
    return (f"the warehouse {cfg.warehouse} is damaged (corrupt: {exc}); restore it from its last backup, "
            f"or rebuild it by loading the archived deliveries in {cfg.archive}, then run again")


def _open_message(cfg: PlaceConfig, exc: Exception) -> str:
    """Why the warehouse file cannot be opened, and what to do: damaged, held by another program, or other.

    Damage is checked first: DuckDB's checksum message says "block", which holds "lock".
    """
    text = str(exc)
    if is_corrupt(exc, cfg.warehouse):
        return damaged_message(cfg, exc)
    if LOCKED_RE.search(text):
        return (f"the warehouse {cfg.warehouse} is in use by another program ({text}); wait for it to finish or "
                "stop it, then run again")
    return (f"cannot open the warehouse {cfg.warehouse}: {text}. If another stratify run or program "
            "holds it, wait for it to finish; if the file is damaged, rebuild it from the archive.")


def _restrict_files(cfg: PlaceConfig) -> None:
    """The warehouse file and its write-ahead log are owner/group-only (0o640), like every output."""
    from stratify.files.permissions import restrict

    for path in (cfg.warehouse, cfg.warehouse.with_name(cfg.warehouse.name + ".wal")):
        if path.exists() and path.stat().st_mode & 0o007:
            restrict(path)


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
        raise WarehouseError(_encrypted_open_message(cfg, scrub(str(exc), key))) from None
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


def _encrypted_open_message(cfg: PlaceConfig, detail: str) -> str:
    """A plain sentence for a failed encrypted attach; `detail` is already scrubbed of the key."""
    enc = cfg.encryption
    named = " / ".join(n for n in ((enc.key_env if enc else ""), (enc.airflow_variable if enc else "")) if n)
    if "Wrong encryption key" in detail:
        return (f"the key in {named} does not open the warehouse {cfg.warehouse}: it was encrypted with another "
                "key; set the right key (ask the data controller)")
    if "is not encrypted" in detail:
        return (f"the warehouse {cfg.warehouse} is not encrypted but the configuration says it is; encrypt it "
                "(copy it into a new encrypted file with `COPY FROM DATABASE`) or remove `encryption:`")
    if "lock" in detail.lower() or "conflict" in detail.lower():
        return (f"cannot open the warehouse {cfg.warehouse}: {detail}. If another stratify run or program holds "
                "it, wait for it to finish")
    return f"cannot open the encrypted warehouse {cfg.warehouse}: {detail}"


def migrate(con: duckdb.DuckDBPyConnection, ddl_dir: Path = DDL_DIR) -> list[str]:
    """Apply the numbered DDL files in order; each file's statements are idempotent.

    A file is applied once: a schema change is a new numbered file, never an
    edit of one already applied, so a database that has recorded every file
    needs nothing (this check runs on every connection and costs one query).
    """
    paths = sorted(ddl_dir.glob("*.sql"))
    try:
        done = {name for (name,) in con.execute("SELECT file_name FROM schema_migrations").fetchall()}
    except duckdb.CatalogException:
        done = set()
    if {p.name for p in paths} <= done:
        return []
    applied = []
    for path in paths:
        run_sql_file(con, path, step="migrate")
        applied.append(path.name)
    con.execute(
        "INSERT INTO schema_migrations (file_name) SELECT unnest($names) "
        "ON CONFLICT DO NOTHING",
        {"names": applied},
    )
    return applied


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> tuple | None:
    """The first row of a query, or None; the result is consumed whole.

    DuckDB 2 keeps a result open after `fetchone()` and refuses other work on
    the connection until it is drained, so single-row reads go through here.
    """
    rows = con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    return rows[0] if rows else None


def read_sql(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def render_identifier(name: str, allowed: set[str] | frozenset[str]) -> str:
    """Return a table or column name for SQL text, only if it is on the allow-list."""
    if name not in allowed or not IDENTIFIER_RE.match(name):
        raise WarehouseError(f"refusing to put {name!r} into SQL: not one of the known names")
    return f'"{name}"'


def run_sql_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    params: Mapping[str, Any] | None = None,
    step: str = "",
    substitutions: Mapping[str, str] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Execute every statement in a `.sql` file with bound parameters.

    `substitutions` replaces `{{name}}` placeholders with identifiers that
    the caller has already checked with `render_identifier`.
    """
    sql = read_sql(path)
    for key, value in (substitutions or {}).items():
        sql = sql.replace("{{" + key + "}}", value)
    return run_sql(con, sql, params, step=step, origin=str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path))


def run_sql(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Mapping[str, Any] | None = None,
    step: str = "",
    origin: str = "<inline>",
) -> duckdb.DuckDBPyConnection:
    """Execute SQL (possibly several statements), binding only the parameters each one uses."""
    statements = [s for s in _split_statements(sql) if s.strip()]
    for stmt in statements:
        used = {k: v for k, v in (params or {}).items() if re.search(r"\$" + re.escape(k) + r"\b", stmt)}
        try:
            con.execute(stmt, used) if used else con.execute(stmt)
        except duckdb.Error as exc:
            shown = {k: (str(v) if not isinstance(v, (list, tuple)) else f"<{len(v)} values>") for k, v in used.items()}
            raise WarehouseError(f"{step or 'sql'} failed in {origin} with parameters {shown}: {exc}") from exc
    return con


def _split_statements(sql: str) -> list[str]:
    """Split on semicolons outside quotes and comments (the DDL and feature files are simple)."""
    out, buf, quote, i = [], [], None, 0
    while i < len(sql):
        ch = sql[i]
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
            buf.append(ch)
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = len(sql) if j < 0 else j
            continue
        elif ch == ";":
            out.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    out.append("".join(buf))
    return out
