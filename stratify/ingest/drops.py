"""Drops: where an agency leaves its deliveries, opened with its credentials and listed.

A drop is a local folder, `sftp://host[:port]/path` or `s3://bucket/prefix`,
read through fsspec. Credentials come at run time from the Airflow
connection `conn_id` (`resolve_credentials`: inside a task, or from the
command line through `AIRFLOW_CONN_<ID>`), never from the YAML; they are kept
in a `Credentials`, whose repr hides them, and `scrub` takes them out of any
error text. An SFTP server's host key is pinned from the connection (or
trusted only if the connection says so); only the keys the connection names
are used, never the worker's own. `stratify.ingest.pull` copies what
`list_drop` sees.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import posixpath
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import fsspec

from stratify.config import ConfigError, DropConfig

log = logging.getLogger(__name__)


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


def close_drop(drop: Drop) -> None:
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


def stat_file(drop: Drop, f: RemoteFile) -> RemoteFile | None:
    """The file as it is now, or None if it is gone."""
    drop.fs.invalidate_cache(drop.folder)
    try:
        info = drop.fs.info(f.path)
    except FileNotFoundError:
        return None
    return RemoteFile(f.path, f.name, int(info.get("size") or 0), _mtime(info))
