"""`drops:` where each agency drops its deliveries: source -> {location, conn_id, delete_at_source, done_marker}.

Checked against the contract (the source must be one of its sources) and
the landing folder (a local drop must lie outside it). A location is never
quoted in a message: it may hold a password.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import TypeAdapter, ValidationError

from stratify.config.messages import problems as translated
from stratify.config.names import name_problem
from stratify.config.sections import DropConfig
from stratify.contract import load_contract

DROP_SCHEMES = ("sftp", "s3")
DROP_KEYS = ("location", "conn_id", "delete_at_source", "done_marker")


def parse_drops(raw: Any, base: Path, landing: Path | None) -> tuple[tuple[DropConfig, ...], list[str]]:
    """The checked drops and one sentence per bad key."""
    if raw is None:
        return (), []
    if not isinstance(raw, dict):
        return (), ["drops: must be a mapping source -> {location, conn_id, delete_at_source, done_marker}"]
    drops, found = [], []
    sources = load_contract().source_names
    for source, spec in raw.items():
        key = f"drops.{source}"
        if source not in sources:
            found.append(f"{key}: {str(source)!r} is not a source of the contract; sources: {', '.join(sources)}")
            continue
        if not isinstance(spec, dict):
            found.append(f"{key}: must be a mapping with at least `location`")
            continue
        mine: list[str] = []
        try:
            drop = TypeAdapter(DropConfig).validate_python({**spec, "source": source})
        except ValidationError as exc:
            mine += translated(exc, ("drops", source), known={key: DROP_KEYS})
            drop = None
        conn_id = spec.get("conn_id")
        if conn_id is not None and (why := name_problem(conn_id, "conn_id")):
            mine.append(f"{key}.conn_id: {why}")
        location = spec.get("location")
        if not isinstance(location, str) or not location.strip():
            mine = [p for p in mine if not p.startswith(f"{key}.location")]
            mine.append(f"{key}.location: required, a local folder, sftp://host[:port]/path or s3://bucket/prefix")
        elif drop is not None and not mine:
            checked, why = _location(key, location.strip(), conn_id, base, landing or base)
            if why:
                mine.append(why)
            else:
                drops.append(DropConfig(source=source, location=checked, conn_id=conn_id,
                                        delete_at_source=drop.delete_at_source, done_marker=drop.done_marker))
        found += mine
    return tuple(drops), found


def _location(key: str, location: str, conn_id: str | None, base: Path, landing: Path) -> tuple[str, str | None]:
    """(checked location, None), or ("", why): a resolved folder outside landing, or a credential-free URL."""
    if "://" not in location:
        if conn_id is not None:
            return "", f"{key}.conn_id: a local folder needs no connection; remove conn_id"
        p = Path(location)
        p = (p if p.is_absolute() else base / p).resolve()
        if p.is_relative_to(landing):
            return "", (f"{key}.location: {p} is inside the landing folder {landing}; a drop must be outside it "
                        "(without a drop, agencies deliver straight into <landing>/<source>/)")
        return str(p), None
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme not in DROP_SCHEMES:
        return "", (f"{key}.location: that scheme is not supported; use a local folder, "
                    "sftp://host[:port]/path or s3://bucket/prefix")
    if "@" in parts.netloc:
        return "", (f"{key}.location: credentials do not belong in the configuration file; remove the "
                    f"user[:password]@ part and put them in the Airflow connection named by {key}.conn_id")
    if parts.query or parts.fragment:
        return "", (f"{key}.location: must not carry a ?query or #fragment; options and credentials "
                    "belong in the Airflow connection")
    if not parts.hostname:
        return "", f"{key}.location: {scheme}:// needs a {'host' if scheme == 'sftp' else 'bucket'}"
    try:
        port = parts.port
    except ValueError:
        return "", f"{key}.location: the port must be a number from 1 to 65535"
    if scheme == "s3" and port is not None:
        return "", f"{key}.location: s3://bucket/prefix takes no port; set an endpoint in the connection"
    if scheme == "sftp" and conn_id is None:
        return "", (f"{key}.conn_id: required for sftp:// (the Airflow connection holding the login "
                    "and password or key, and the server's host key)")
    return urlunsplit((scheme, parts.netloc, parts.path or "/", "", "")), None
