"""Pull: bring each agency's new deliveries from its drop location into the landing zone.

Stage 0 of a run, before `discover`. A place that configures no `drops:` has
its agencies deliver straight into `<landing>/<source>/`, and this stage only
says so. Otherwise each drop (a local folder, `sftp://host[:port]/path` or
`s3://bucket/prefix`, read through fsspec) is listed twice, a short pause
apart, and every file that is complete is copied to
`<landing>/<source>/<name>.part`, checked (byte count, the source unchanged
while it was read), fsync'ed and renamed to its final name, so `discover`
never sees half a file. A file is complete when its size and modification
time are the same in both looks or, for a drop with `done_marker: true`, when
`<name>.done` stands beside it.

Every file seen gets a `pulls` row (outcome `pulled`, `already_pulled`,
`skipped_in_flight`, `skipped_no_marker`, `refused_name_clash`, `failed`; a
drop that cannot be listed gets one `unreachable` row) with the sha256 of the
bytes copied. A file already pulled (same drop, path and size, and the same
sha256 or, without copying it again, the same modification time) is not
pulled twice. Nothing is deleted at the source unless the drop says
`delete_at_source: true`, and then only once the landing copy is verified.
A file in landing with the same name and different content is never
overwritten.

Credentials come at run time from the Airflow connection `conn_id`
(`resolve_credentials`: inside a task, or from the command line through
`AIRFLOW_CONN_<ID>`), never from the YAML; they are never logged or stored,
and error texts are scrubbed of them. An unreachable drop or a failed copy
is recorded and the run goes on with what has landed (a late delivery is
taken on the next run); a configuration problem (unknown connection, no host
key, s3fs missing) stops the stage with a `ConfigError`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
import os
import posixpath
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import fsspec

from stratify.config import ConfigError, DropConfig, PlaceConfig
from stratify.files.durable import fsync_dir, sha256_file
from stratify.files.permissions import make_private_dir, open_private
from stratify.run.context import RunContext
from stratify.run.summaries import write_stage_summary
from stratify.warehouse.database import SQL_DIR, connect, run_sql_file

log = logging.getLogger(__name__)

CHUNK = 1 << 20
IGNORED_SUFFIXES = (".part", ".tmp", ".done")  # an agency's own in-progress names, and markers
MARKER = ".done"
OUTCOMES = ("pulled", "already_pulled", "skipped_in_flight", "skipped_no_marker", "refused_name_clash",
            "failed", "unreachable")
PREVIOUS_SQL = SQL_DIR / "pull_previous.sql"
RECORD_SQL = SQL_DIR / "pull_record.sql"


class Credentials(dict):
    """A connection's login, password, host, port and extra; its repr never shows them."""

    def __repr__(self) -> str:
        return f"<credentials: {', '.join(sorted(k for k, v in self.items() if v))}>"

    __str__ = __repr__

    def secrets(self) -> tuple[str, ...]:
        """The values that must never appear in a message (for `scrub`)."""
        extra = self.get("extra") or {}
        values = [self.get("password"), extra.get("private_key"), extra.get("private_key_passphrase"),
                  extra.get("aws_secret_access_key"), extra.get("aws_session_token")]
        return tuple(str(v) for v in values if v)


@dataclass(frozen=True)
class RemoteFile:
    """One file at a drop, as one listing saw it."""

    path: str  # on the drop's filesystem
    name: str
    size: int
    mtime: datetime | None

    @property
    def look(self) -> tuple[int, datetime | None]:
        return (self.size, self.mtime)


@dataclass
class Drop:
    """An opened drop: its configuration, filesystem, folder and the secrets to scrub from messages."""

    config: DropConfig
    fs: Any
    folder: str
    secrets: tuple[str, ...] = ()
    first: dict[str, RemoteFile] | None = None


# --------------------------------------------------------------------------- credentials


def resolve_credentials(conn_id: str) -> Credentials:
    """The Airflow connection `conn_id` as {login, password, host, port, extra}.

    `airflow.sdk.Connection.get` works inside a task (through the task
    supervisor) and outside one (secrets backends, e.g. an `AIRFLOW_CONN_<ID>`
    environment variable holding a URI or JSON), so the DAG and `stratify run`
    share this. Airflow masks the values in its own logs; here they are kept
    in a `Credentials`, whose repr hides them.
    """
    try:
        from airflow.sdk import Connection
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError as exc:  # pragma: no cover - Airflow is a core dependency
        raise ConfigError(f"connection {conn_id!r}: Airflow is not installed, so connections cannot be read") from exc
    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        conn = _connection_from_metadata_db(conn_id)
    if conn is None:
        raise ConfigError(
            f"Airflow connection {conn_id!r} is not defined: add it (airflow connections add {conn_id} ...) "
            f"or set AIRFLOW_CONN_{conn_id.upper().replace('-', '_').replace('.', '_')} to its URI or JSON"
        )
    return Credentials(login=conn.login, password=conn.password, host=conn.host, port=conn.port,
                       extra=dict(conn.extra_dejson or {}))


def _connection_from_metadata_db(conn_id: str) -> Any | None:
    """A connection stored in Airflow's metadata database, for runs outside a task (`stratify run`).

    Outside a task the SDK reads only secrets backends and environment
    variables; a connection added with `airflow connections add` is in the
    database, which the command line may read directly. Inside a task the SDK
    has already asked the API server, and direct database access is refused:
    any failure here means "not found".
    """
    try:
        from airflow.models.connection import Connection as StoredConnection

        return StoredConnection.get_connection_from_secrets(conn_id)
    except Exception:
        return None


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret replaced by `***` (error texts from network libraries go into `pulls`)."""
    for s in sorted(secrets, key=len, reverse=True):
        if s:
            text = text.replace(s, "***")
    return text


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


# --------------------------------------------------------------------------- filesystems


def _host_key_policy(conn_id: str, extra: dict[str, Any]):
    """Pin the server's host key from the connection's `host_key`, or trust any key only if told to."""
    import paramiko

    class PinnedHostKey(paramiko.MissingHostKeyPolicy):
        """Accept exactly the host key named in the connection; refuse any other (no known_hosts is read)."""

        def __init__(self, key_type: str | None, key_b64: str):
            self.key_type, self.key_b64 = key_type, key_b64

        def missing_host_key(self, client, hostname, key):
            if key.get_base64() != self.key_b64 or (self.key_type and key.get_name() != self.key_type):
                raise paramiko.SSHException(
                    f"the host key of {hostname} does not match host_key in Airflow connection {conn_id!r}: "
                    "refusing to connect (check the server's key with the agency)"
                )

    if extra.get("host_key"):
        parts = str(extra["host_key"]).split()
        key_type, key_b64 = (parts[0], parts[1]) if len(parts) >= 2 else (None, parts[0])
        return PinnedHostKey(key_type, key_b64)
    if _truthy(extra.get("no_host_key_check")):
        return "auto_add"
    raise ConfigError(
        f"Airflow connection {conn_id!r}: set extra host_key to the SFTP server's public key "
        "(e.g. 'ssh-ed25519 AAAA...', from the agency or ssh-keyscan), or no_host_key_check: true "
        "to accept any key (not recommended: anyone on the path could pose as the server)"
    )


def _private_key(text: str, passphrase: str | None):
    """A paramiko key from the connection's `private_key` text (OpenSSH or PEM)."""
    import paramiko

    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text), password=passphrase)
        except paramiko.SSHException:
            continue
    raise ConfigError("the connection's private_key is not an Ed25519, ECDSA or RSA private key "
                      "(or its passphrase is wrong)")


def _sftp_filesystem(drop: DropConfig, creds: Credentials):
    """fsspec's SFTP filesystem (paramiko) for the drop: login and key or password from the connection."""
    if importlib.util.find_spec("paramiko") is None:
        raise ConfigError(f"drops.{drop.source}.location: sftp:// needs the paramiko package; reinstall stratify")
    parts = urlsplit(drop.location)
    extra = creds.get("extra") or {}
    if not creds.get("login"):
        raise ConfigError(f"Airflow connection {drop.conn_id!r}: no login (the SFTP user name)")
    kwargs: dict[str, Any] = {
        "port": parts.port or creds.get("port") or 22,
        "username": creds["login"],
        "look_for_keys": False,  # only what the connection names, never the worker's own keys
        "allow_agent": False,
        "timeout": 30, "banner_timeout": 30, "auth_timeout": 30,
    }
    if creds.get("password"):
        kwargs["password"] = creds["password"]
    passphrase = extra.get("private_key_passphrase")
    if extra.get("key_file"):
        kwargs["key_filename"] = str(extra["key_file"])
        if passphrase:
            kwargs["passphrase"] = passphrase
    if extra.get("private_key"):
        kwargs["pkey"] = _private_key(str(extra["private_key"]), passphrase)
    if not ({"password", "key_filename", "pkey"} & set(kwargs)):
        raise ConfigError(f"Airflow connection {drop.conn_id!r}: no password, key_file or private_key")
    policy = _host_key_policy(str(drop.conn_id), extra)
    return fsspec.filesystem("sftp", host=parts.hostname, host_key_policy=policy, skip_instance_cache=True, **kwargs)


def _s3_filesystem(drop: DropConfig, creds: Credentials):
    """s3fs for the drop: keys from the connection (AWS style), else s3fs's own credential chain."""
    if importlib.util.find_spec("s3fs") is None:
        raise ConfigError(f"drops.{drop.source}.location: s3:// needs the s3fs package: "
                          "install stratify with its s3 extra (pip install 'stratify[s3]')")
    extra = creds.get("extra") or {}
    opts: dict[str, Any] = {}
    key = creds.get("login") or extra.get("aws_access_key_id")
    secret = creds.get("password") or extra.get("aws_secret_access_key")
    if key and secret:
        opts.update(key=key, secret=secret)
    if extra.get("aws_session_token"):
        opts["token"] = extra["aws_session_token"]
    client_kwargs = {k: extra[k] for k in ("endpoint_url", "region_name") if extra.get(k)}
    if client_kwargs:
        opts["client_kwargs"] = client_kwargs
    return fsspec.filesystem("s3", skip_instance_cache=True, **opts)


def open_drop(drop: DropConfig) -> Drop:
    """The drop's filesystem and folder; raises ConfigError for what only configuration can fix."""
    creds = resolve_credentials(drop.conn_id) if drop.conn_id else Credentials()
    if drop.scheme == "file":
        return Drop(drop, fsspec.filesystem("file"), drop.location)
    parts = urlsplit(drop.location)
    if drop.scheme == "sftp":
        return Drop(drop, _sftp_filesystem(drop, creds), parts.path or "/", creds.secrets())
    if drop.scheme == "s3":
        return Drop(drop, _s3_filesystem(drop, creds), f"{parts.hostname}{parts.path}".rstrip("/"), creds.secrets())
    raise ConfigError(f"drops.{drop.source}.location: unsupported scheme {drop.scheme}")


def _close(drop: Drop) -> None:
    client = getattr(drop.fs, "client", None)  # paramiko's SSHClient behind fsspec's SFTP filesystem
    if client is not None:
        try:
            client.close()
        except Exception:  # closing a broken connection must not hide the pull's result
            log.debug("closing the connection to %s failed", drop.config.location, exc_info=True)


def _mtime(entry: dict[str, Any]) -> datetime | None:
    """The modification time of a listing entry, whatever the filesystem calls it, in UTC."""
    for key in ("mtime", "LastModified", "last_modified", "updated"):
        value = entry.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, datetime):
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def list_drop(drop: Drop) -> dict[str, RemoteFile]:
    """The regular files directly in the drop's folder, by name (markers included), freshly listed."""
    drop.fs.invalidate_cache(drop.folder)  # s3fs caches listings; the second look must be real
    out: dict[str, RemoteFile] = {}
    for entry in drop.fs.ls(drop.folder, detail=True):
        if entry.get("type") != "file":
            continue
        path = str(entry["name"])
        name = posixpath.basename(path.rstrip("/"))
        if name and not name.startswith("."):
            out[name] = RemoteFile(path=path, name=name, size=int(entry.get("size") or 0), mtime=_mtime(entry))
    return out


def _stat(drop: Drop, f: RemoteFile) -> RemoteFile | None:
    """The file as it is now, or None if it is gone."""
    drop.fs.invalidate_cache(drop.folder)
    try:
        info = drop.fs.info(f.path)
    except FileNotFoundError:
        return None
    return RemoteFile(f.path, f.name, int(info.get("size") or 0), _mtime(info))


# --------------------------------------------------------------------------- copying


def copy_to_part(drop: Drop, f: RemoteFile, part: Path) -> tuple[int, str]:
    """Stream the remote file into `part`, hashing as it goes; fsync before returning (bytes, sha256)."""
    h = hashlib.sha256()
    n = 0
    if not part.parent.is_dir():
        make_private_dir(part.parent)
    with drop.fs.open(f.path, "rb") as src, os.fdopen(open_private(part), "wb") as dst:  # 0o640, whatever the umask
        if hasattr(src, "prefetch"):  # paramiko: pipeline the reads instead of one round trip per block
            src.prefetch(f.size)
        while chunk := src.read(CHUNK):
            h.update(chunk)
            dst.write(chunk)
            n += len(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    return n, h.hexdigest()


@contextmanager
def _part_file(target: Path) -> Iterator[Path]:
    """`<target>.part`, removed on the way out unless it was renamed into place."""
    part = target.with_name(target.name + ".part")
    try:
        yield part
    finally:
        part.unlink(missing_ok=True)


def _delete_at_source(drop: Drop, f: RemoteFile, marker: RemoteFile | None) -> str | None:
    """Remove the pulled file (and its marker) at the drop; the reason as text if that failed."""
    try:
        drop.fs.rm_file(f.path)
        if marker is not None:
            drop.fs.rm_file(marker.path)
    except Exception as exc:  # the landing copy is safe; the next run tries again
        return scrub(f"pulled, but deleting it at the source failed: {type(exc).__name__}: {exc}", drop.secrets)
    return None


# --------------------------------------------------------------------------- the stage


def _previous(con, drop: Drop, f: RemoteFile, sha256: str | None) -> tuple | None:
    rows = run_sql_file(con, PREVIOUS_SQL, {
        "source": drop.config.source, "location": drop.config.location, "remote_path": f.path,
        "size_bytes": f.size, "sha256": sha256, "remote_mtime": f.mtime,
    }, step="pull: earlier pull").fetchall()
    return rows[0] if rows else None


def _record(con, ctx: RunContext, drop: DropConfig, f: RemoteFile | None, outcome: str, *, sha256: str | None = None,
            landing: Path | None = None, deleted: bool = False, detail: str | None = None) -> None:
    run_sql_file(con, RECORD_SQL, {
        "run_id": ctx.run_id, "source": drop.source, "location": drop.location,
        "remote_path": f.path if f else None, "size_bytes": f.size if f else None,
        "remote_mtime": f.mtime if f else None, "sha256": sha256, "pulled_at": datetime.now(UTC),
        "landing_path": str(landing) if landing else None, "outcome": outcome, "deleted_at_source": deleted,
        "detail": detail,
    }, step="pull: record")
    log.info("pull %s %s: %s%s", drop.source, f.name if f else drop.location, outcome, f" ({detail})" if detail else "")


def _pull_file(con, cfg: PlaceConfig, ctx: RunContext, drop: Drop, f: RemoteFile, marker: RemoteFile | None) -> tuple[str, int]:
    """Pull one complete-looking file; record and return (outcome, bytes landed)."""
    dc = drop.config
    if not dc.delete_at_source and _previous(con, drop, f, None) is not None:
        _record(con, ctx, dc, f, "already_pulled", detail="same path, size and modification time as an earlier pull")
        return "already_pulled", 0
    target = cfg.landing / dc.source / f.name
    with _part_file(target) as part:
        n, digest = copy_to_part(drop, f, part)
        now = _stat(drop, f)
        if n != f.size or now is None or now.look != f.look:
            _record(con, ctx, dc, f, "skipped_in_flight", detail="the file changed while it was copied; next run")
            return "skipped_in_flight", 0
        deleted, detail = False, None
        if _previous(con, drop, f, digest) is not None:
            if dc.delete_at_source:
                detail = _delete_at_source(drop, f, marker)
                deleted = detail is None
            _record(con, ctx, dc, f, "already_pulled", sha256=digest, deleted=deleted,
                    detail=detail or "same path, size and sha256 as an earlier pull")
            return "already_pulled", 0
        if target.exists():
            if sha256_file(target) != digest:
                _record(con, ctx, dc, f, "refused_name_clash", sha256=digest, detail=(
                    f"a different file named {f.name} is already in the landing folder {dc.source}/; not "
                    "overwritten. It is pulled once that one has been processed, or deliver it under a new name"))
                return "refused_name_clash", 0
            detail = "the same file was already in the landing folder; kept it"
        else:
            os.replace(part, target)
            fsync_dir(target.parent)
        if dc.delete_at_source:
            failed = _delete_at_source(drop, f, marker)
            deleted = failed is None
            detail = "; ".join(d for d in (detail, failed) if d) or None
    _record(con, ctx, dc, f, "pulled", sha256=digest, landing=target, deleted=deleted, detail=detail)
    return "pulled", n


def _pull_drop(con, cfg: PlaceConfig, ctx: RunContext, drop: Drop) -> Counter:
    """Second look at one drop, then pull each file that is complete."""
    dc = drop.config
    counts: Counter = Counter()
    second = list_drop(drop)
    for name, f in sorted(second.items()):
        if name.lower().endswith(IGNORED_SUFFIXES):
            continue
        marker = second.get(name + MARKER)
        if dc.done_marker and marker is None:
            _record(con, ctx, dc, f, "skipped_no_marker", detail=f"no {name}{MARKER} beside it yet; next run")
            counts["skipped_no_marker"] += 1
            continue
        if not dc.done_marker and (drop.first or {}).get(name, None) is None:
            _record(con, ctx, dc, f, "skipped_in_flight", detail="appeared during the pause between two looks; next run")
            counts["skipped_in_flight"] += 1
            continue
        if not dc.done_marker and drop.first[name].look != f.look:
            _record(con, ctx, dc, f, "skipped_in_flight", detail="its size or time changed between two looks; next run")
            counts["skipped_in_flight"] += 1
            continue
        try:
            outcome, n = _pull_file(con, cfg, ctx, drop, f, marker if dc.done_marker else None)
        except ConfigError:
            raise
        except Exception as exc:  # one file's failure is recorded; the others still come
            outcome, n = "failed", 0
            _record(con, ctx, dc, f, "failed", detail=scrub(f"{type(exc).__name__}: {exc}", drop.secrets))
        counts[outcome] += 1
        counts["bytes"] += n
    return counts


def pull_deliveries(cfg: PlaceConfig, ctx: RunContext, settle_seconds: float = 2.0,
                    after_first_look: Callable[[], None] | None = None) -> dict:
    """Copy new, complete files from every configured drop into `<landing>/<source>/`.

    `settle_seconds` is the pause between the two looks that tell a finished
    file from one still being written (drops with `done_marker` need none);
    `after_first_look` is called in that pause (tests use it to play a writer).
    """
    if not cfg.drops:
        summary = {"run_id": ctx.run_id, "drops": 0,
                   "message": f"no drops configured: agencies deliver straight into {cfg.landing}/<source>/, "
                              "nothing to pull"}
        write_stage_summary(cfg, ctx, "pull", summary)
        return summary
    totals: Counter = Counter()
    per_source: dict[str, dict[str, int]] = {}
    opened: list[Drop] = []
    try:
        with connect(cfg) as con:
            for dc in cfg.drops:
                drop = None
                try:
                    drop = open_drop(dc)
                    opened.append(drop)
                    drop.first = list_drop(drop)
                except ConfigError:
                    raise
                except Exception as exc:  # the agency's server is down or refuses us: next run
                    if drop is not None:
                        opened.remove(drop)
                        _close(drop)
                    secrets = drop.secrets if drop else ()
                    _record(con, ctx, dc, None, "unreachable", detail=scrub(f"{type(exc).__name__}: {exc}", secrets))
                    per_source[dc.source] = {"unreachable": 1}
                    totals["unreachable"] += 1
            if after_first_look is not None:
                after_first_look()
            if settle_seconds > 0 and any(not d.config.done_marker for d in opened):
                time.sleep(settle_seconds)
            for drop in opened:
                try:
                    counts = _pull_drop(con, cfg, ctx, drop)
                except ConfigError:
                    raise
                except Exception as exc:  # the listing itself failed on the second look
                    _record(con, ctx, drop.config, None, "unreachable",
                            detail=scrub(f"{type(exc).__name__}: {exc}", drop.secrets))
                    counts = Counter(unreachable=1)
                per_source[drop.config.source] = dict(counts)
                totals.update(counts)
    finally:
        for drop in opened:
            _close(drop)
    summary: dict[str, Any] = {"run_id": ctx.run_id, "drops": len(cfg.drops), "sources": per_source,
                               **{o: totals.get(o, 0) for o in OUTCOMES}, "bytes": totals.get("bytes", 0)}
    trouble = totals.get("failed", 0) + totals.get("unreachable", 0)
    summary["message"] = (f"pulled {summary['pulled']} file(s) from {len(cfg.drops)} drop(s)"
                          + (f"; {trouble} drop(s) or file(s) could not be pulled, see the pulls table" if trouble else ""))
    write_stage_summary(cfg, ctx, "pull", summary)
    return summary
