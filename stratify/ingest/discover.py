"""Ingest: find deliveries in the landing zone, read them as text, move them on.

`discover_deliveries` is stage 1 of a run: every file under `cfg.landing`
gets a `deliveries` row (`pending`, `duplicate` or `refused`). Reading a
delivery (`read_delivery`) is done by DuckDB, never by loading a whole file
into pandas: the result is a table of strings in canonical text form that the
validation stage checks against the contract, and that `typed_table` casts to
the contract's types once it has passed.

No message written here ever contains a delivered value: reasons name files,
columns, rules, row or line numbers and byte offsets only.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from stratify.config import PlaceConfig
from stratify.contract import Source, load_contract
from stratify.files.durable import sha256_file
from stratify.files.permissions import FILE_MODE, make_private_dir, write_private_text
from stratify.run.context import RunContext
from stratify.warehouse.database import connect

UNRECOGNISED = "_unrecognised"
SKIP_SUFFIXES = (".part", ".tmp", ".done")
TRUE_TEXT = ("true", "t", "1")
FALSE_TEXT = ("false", "f", "0")
DECIDED_OK = ("accepted", "accepted_with_warnings")
CHUNK = 1 << 20


class DeliveryReadError(ValueError):
    """A delivery cannot be read as the contract describes; `reason` is plain text without values."""

    def __init__(self, file: str | Path, reason: str):
        self.file = Path(file).name
        self.reason = reason
        super().__init__(f"{self.file}: {reason}")


# --------------------------------------------------------------------------- files


def _same_content(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and sha256_file(a) == sha256_file(b)


def _free_name(target: Path) -> Path:
    """`target`, or `target` with a numeric suffix before the extension if it is taken."""
    if not target.exists():
        return target
    stem, suffix = target.name.split(".", 1) if "." in target.name else (target.name, "")
    for i in range(2, 10_000):
        cand = target.with_name(f"{stem}.{i}.{suffix}" if suffix else f"{stem}.{i}")
        if not cand.exists() and not cand.with_name(cand.name + ".reason.txt").exists():
            return cand
    raise FileExistsError(f"no free name for {target}")


def _move(path: Path, target: Path) -> None:
    make_private_dir(target.parent)
    shutil.move(str(path), str(target))
    os.chmod(target, FILE_MODE)  # quarantined and archived copies are owner/group-only, whatever the landing mode
    marker = path.with_name(path.name + ".done")
    if marker.exists():
        marker.unlink()


def quarantine_file(cfg: PlaceConfig, path: Path, source_name: str | None, reason: str) -> Path:
    """Move a refused or held file to `<quarantine>/<source>/` beside `<file>.reason.txt`."""
    path = Path(path)
    folder = cfg.quarantine / (source_name or UNRECOGNISED)
    target = _free_name(folder / path.name)
    _move(path, target)
    write_private_text(
        target.with_name(target.name + ".reason.txt"),
        f"{path.name}\n{reason.rstrip()}\n"
        f"quarantined {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}; correct the file and deliver it again "
        "under a new name (a later date or sequence number).\n",
    )
    return target


def archive_file(cfg: PlaceConfig, path: Path, source_name: str, delivery_date=None) -> Path:
    """Move a loaded file, unchanged, to `<archive>/<source>/<file>`.

    An archived file is never overwritten: the same content already there is
    kept (the landing copy is removed); different content gets a suffix.
    `delivery_date` is accepted for the stage interface; the file name carries it.
    """
    path = Path(path)
    target = cfg.archive / source_name / path.name
    if target.exists():
        if _same_content(path, target):
            path.unlink()
            marker = path.with_name(path.name + ".done")
            if marker.exists():
                marker.unlink()
            return target
        target = _free_name(target)
    _move(path, target)
    return target


# --------------------------------------------------------------------------- discovery


def _candidates(landing: Path) -> list[Path]:
    out = []
    if not landing.exists():
        return out
    for root, dirs, files in os.walk(landing):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or name.lower().endswith(SKIP_SUFFIXES):
                continue
            out.append(Path(root) / name)
    return out


def _settled(paths: list[Path], settle_seconds: float) -> list[Path]:
    """The files whose size and mtime did not change for `settle_seconds` (not still being written).

    A file last changed at least `settle_seconds` ago has already been quiet
    that long, so it needs no second look; the pause is only for files
    changed more recently, and only as long as they still need. Deliveries
    usually land hours before the night, so the night rarely waits. A file
    stamped in the future (a file server's clock ahead of ours) counts as
    just changed. Whatever the look says, discovery hashes each file and
    leaves it for the next run if it changed while being read.
    """
    def look(p: Path):
        try:
            st = p.stat()
            return (st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            return None

    first = {p: look(p) for p in paths}
    now_ns, quiet_ns = time.time_ns(), int(settle_seconds * 1e9)
    recent = {p for p, seen in first.items() if seen is not None and not (now_ns - seen[1] >= quiet_ns)}
    if recent and settle_seconds > 0:
        newest = max(first[p][1] for p in recent)
        wait_ns = quiet_ns if newest > now_ns else newest + quiet_ns - now_ns
        time.sleep(wait_ns / 1e9)
    return [p for p in paths if first[p] is not None and (p not in recent or look(p) == first[p])]


def _changed_since(path: Path, before: os.stat_result) -> bool:
    """Whether the file grew, shrank, was rewritten or went away after `before` was taken."""
    try:
        now = path.stat()
    except FileNotFoundError:
        return True
    return (now.st_size, now.st_mtime_ns, now.st_ino) != (before.st_size, before.st_mtime_ns, before.st_ino)


def discover_deliveries(cfg: PlaceConfig, ctx: RunContext, settle_seconds: float = 2.0) -> dict:
    """Record every complete file under the landing zone as a delivery of this run.

    Unrecognised names (or files in the wrong folder) are refused and moved to
    `<quarantine>/_unrecognised/`; a file whose sha256 was already accepted is
    a `duplicate` and moved to `<quarantine>/<source>/`; the rest are `pending`.
    A file that changed while it was hashed (a sender that paused longer than
    the settle wait, then wrote on) is left in landing, counted `in_flight`,
    for the next run to take whole; one that appears after the listing is
    simply not seen until then.
    """
    contract = load_contract()
    files = _settled(_candidates(cfg.landing), settle_seconds)
    skipped_in_flight = len(_candidates(cfg.landing)) - len(files)
    summary: dict = {"run_id": ctx.run_id, "files": 0, "pending": 0, "duplicate": 0, "refused": 0,
                     "in_flight": max(skipped_in_flight, 0), "pending_ids": []}
    with connect(cfg) as con:
        seen_this_run: dict[str, int] = {}
        for path in files:
            st = path.stat()
            digest = sha256_file(path)
            if _changed_since(path, st):  # the sender wrote more while it was read: not half a delivery
                summary["in_flight"] += 1
                continue
            received_at = datetime.fromtimestamp(st.st_mtime, UTC)
            rel = path.relative_to(cfg.landing)
            parsed = contract.parse_file_name(path.name)
            source = parsed.source if parsed else None
            decision, reason, stored = "pending", None, None
            if parsed is None:
                decision = "refused"
                reason = (f"{path.name}: the file name matches no source of contract v{contract.version}; "
                          f"expected <source>_<YYYYMMDD>[_<seq>].parquet or .csv with a real date and source one of "
                          f"{', '.join(contract.source_names)}")
            elif rel.parent != Path(source):
                decision = "refused"
                where = "the landing folder itself" if rel.parent == Path(".") else f"folder {rel.parent.as_posix()}/"
                reason = (f"{path.name}: a {source} delivery found in {where}; "
                          f"{source} deliveries must be dropped into {source}/")
            else:
                earlier = con.execute(
                    """
                    SELECT d.delivery_id FROM deliveries d LEFT JOIN runs r USING (run_id)
                    WHERE d.sha256 = $sha AND d.decision IN ('accepted', 'accepted_with_warnings')
                      AND (d.loaded_at IS NOT NULL OR r.status IN ('published', 'held') OR d.run_id = $run)
                    ORDER BY d.delivery_id LIMIT 1
                    """,
                    {"sha": digest, "run": ctx.run_id},
                ).fetchall()
                first_id = earlier[0][0] if earlier else seen_this_run.get(digest)
                if first_id is not None:
                    decision = "duplicate"
                    reason = f"duplicate of delivery {first_id}, nothing changed"
            if decision == "refused":
                stored = quarantine_file(cfg, path, None, reason)
            elif decision == "duplicate":
                stored = quarantine_file(cfg, path, source, reason)
            else:
                stored = path
            delivery_id = con.execute(
                """
                INSERT INTO deliveries (run_id, source, file_name, sha256, size_bytes, delivery_date, delivery_seq,
                                        received_at, decision, reason, stored_path)
                VALUES ($run, $source, $name, $sha, $size, $ddate, $seq, $received, $decision, $reason, $stored)
                RETURNING delivery_id
                """,
                {"run": ctx.run_id, "source": source, "name": path.name, "sha": digest, "size": st.st_size,
                 "ddate": parsed.delivery_date if parsed else None, "seq": parsed.seq if parsed else None,
                 "received": received_at, "decision": decision, "reason": reason, "stored": str(stored)},
            ).fetchall()[0][0]
            summary["files"] += 1
            summary[decision] += 1
            if decision == "pending":
                summary["pending_ids"].append(delivery_id)
                seen_this_run.setdefault(digest, delivery_id)
    return summary


# --------------------------------------------------------------------------- reading


def _sql_str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _qi(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _first_bad_utf8(path: Path) -> tuple[int, int, int] | None:
    """(offset, byte, line) of the first byte that is not valid UTF-8, streamed; None if the file is UTF-8."""
    dec = codecs.getincrementaldecoder("utf-8")()
    offset = 0  # file offset of the first byte of `chunk`
    line = 1  # line number at the first byte of `chunk`
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(CHUNK)
            held = dec.getstate()[0]  # bytes of an incomplete sequence kept from the last chunk (never a newline)
            try:
                dec.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                buf = held + chunk
                return offset - len(held) + exc.start, buf[exc.start], line + buf[:exc.start].count(b"\n")
            if not chunk:
                return None
            offset += len(chunk)
            line += chunk.count(b"\n")


def _not_utf8(path: Path) -> DeliveryReadError:
    bad = _first_bad_utf8(path)
    if not bad:
        return DeliveryReadError(path, "not UTF-8: re-export as UTF-8")
    return DeliveryReadError(path, f"not UTF-8 (byte 0x{bad[1]:02X} at offset {bad[0]}, line {bad[2]}): re-export as UTF-8")


def _first_nul(path: Path) -> tuple[int, int] | None:
    """(offset, line) of the first NUL byte, streamed in chunks; None if there is none.

    A text CSV never holds NUL. A file padded with zeros (pre-allocated by a
    transfer that did not finish) or a binary file does, and DuckDB's CSV
    reader may stop quietly at such padding and return only the rows before it.
    """
    offset, line = 0, 1
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            at = chunk.find(b"\0")
            if at >= 0:
                return offset + at, line + chunk.count(b"\n", 0, at)
            offset += len(chunk)
            line += chunk.count(b"\n")
    return None


def _read_header(path: Path) -> list[str]:
    with open(path, "rb") as fh:
        raw = fh.readline(1 << 20)
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    line = line.rstrip("\r\n")
    if "\r" in line:
        raise DeliveryReadError(path, "lines end with a carriage return only (CR): the contract's CSV ends lines with "
                                      "LF or CRLF; re-export with Windows or Unix line endings")
    if not line.strip():
        raise DeliveryReadError(path, "the first line is empty: a CSV delivery starts with one header row")
    commas, semis, tabs = line.count(","), line.count(";"), line.count("\t")
    if semis > commas:
        raise DeliveryReadError(path, "semicolon-separated: the contract requires comma-separated CSV; re-export with ',' as the delimiter")
    if tabs > commas:
        raise DeliveryReadError(path, "tab-separated: the contract requires comma-separated CSV; re-export with ',' as the delimiter")
    try:
        header = next(csv.reader(io.StringIO(line), delimiter=",", quotechar='"', strict=True))
    except csv.Error:
        raise DeliveryReadError(path, "malformed quoting in the header row (RFC 4180)") from None
    header = [h.strip() for h in header]
    if any(not h for h in header):
        raise DeliveryReadError(path, "the header row has an empty column name")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DeliveryReadError(path, f"the header row names column(s) {', '.join(dupes)} more than once")
    return header


def _csv_error(path: Path, exc: Exception) -> DeliveryReadError:
    msg = str(exc)
    m = re.search(r"CSV Error on Line: (\d+)", msg)
    line = f" at line {m.group(1)}" if m else ""
    if "unicode" in msg.lower() or "utf-8" in msg.lower():
        return _not_utf8(path)
    m2 = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", msg)
    if m2:
        return DeliveryReadError(path, f"wrong number of fields{line}: expected {m2.group(1)} as in the header, found {m2.group(2)}")
    if re.search(r"unterminated quote|quote.*(invalid|not|escape)|escape", msg.split("Possible")[0], re.I | re.S):
        return DeliveryReadError(path, f"malformed quoting{line}: fields must follow RFC 4180 (a field with a quote, comma or line break is enclosed in double quotes, inner quotes doubled)")
    return DeliveryReadError(path, f"not a readable CSV file{line} (comma-separated, RFC 4180 quoting, one header row)")


def _boolean_text(expr: str) -> str:
    t = ", ".join(_sql_str(v) for v in TRUE_TEXT)
    f = ", ".join(_sql_str(v) for v in FALSE_TEXT)
    return f"CASE WHEN lower({expr}) IN ({t}) THEN 'true' WHEN lower({expr}) IN ({f}) THEN 'false' ELSE {expr} END"


def _csv_select(path: Path, source: Source) -> str:
    header = _read_header(path)
    types = {c.name: c.type for c in source.columns}
    cols = "{" + ", ".join(f"{_sql_str(h)}: 'VARCHAR'" for h in header) + "}"
    select = []
    for h in header:
        expr = f"NULLIF({_qi(h)}, '')"
        if types.get(h) == "boolean":
            expr = _boolean_text(expr)
        select.append(f"{expr} AS {_qi(h)}")
    return (f"SELECT {', '.join(select)} FROM read_csv({_sql_str(str(path))}, columns={cols}, header=true, "
            "delim=',', quote='\"', escape='\"', strict_mode=true, auto_detect=false, null_padding=false, "
            "encoding='utf-8')")


def _parquet_expr(name: str, duck_type: str, contract_type: str | None) -> str:
    c = _qi(name)
    t = duck_type.upper()
    if t == "DATE":
        return f"strftime({c}, '%Y-%m-%d')"
    if t.startswith("TIMESTAMP"):
        if contract_type == "date":
            return (f"CASE WHEN CAST({c} AS TIMESTAMP) = date_trunc('day', CAST({c} AS TIMESTAMP)) "
                    f"THEN strftime(CAST({c} AS TIMESTAMP), '%Y-%m-%d') "
                    f"ELSE strftime(CAST({c} AS TIMESTAMP), '%Y-%m-%d %H:%M:%S') END")
        return f"CAST({c} AS VARCHAR)"
    if t == "BOOLEAN":
        return f"CASE WHEN {c} THEN 'true' WHEN NOT {c} THEN 'false' END"
    if t in ("FLOAT", "DOUBLE", "REAL") and contract_type == "integer":
        return (f"CASE WHEN isfinite({c}) AND {c} = trunc({c}) AND abs({c}) < 9e15 "
                f"THEN CAST(CAST({c} AS BIGINT) AS VARCHAR) ELSE CAST({c} AS VARCHAR) END")
    if t in ("VARCHAR", "STRING") or t.startswith("VARCHAR"):
        expr = f"NULLIF({c}, '')"
        return _boolean_text(expr) if contract_type == "boolean" else expr
    if t.startswith("DECIMAL") and contract_type == "integer":
        return (f"CASE WHEN {c} = trunc({c}) THEN CAST(CAST({c} AS BIGINT) AS VARCHAR) "
                f"ELSE CAST({c} AS VARCHAR) END")
    if contract_type == "boolean" and t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"):
        return f"CASE WHEN {c} = 1 THEN 'true' WHEN {c} = 0 THEN 'false' ELSE CAST({c} AS VARCHAR) END"
    return f"NULLIF(CAST({c} AS VARCHAR), '')"


PARQUET_UNREADABLE = "not a readable Parquet file (truncated or corrupt): deliver the complete file again"
HEADER_ONLY = "header only: the file has no data rows"


def _parquet_select(con: duckdb.DuckDBPyConnection, path: Path, source: Source) -> str:
    types = {c.name: c.type for c in source.columns}
    rel = f"read_parquet({_sql_str(str(path))})"
    try:
        schema = con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()
    except duckdb.Error:
        raise DeliveryReadError(path, PARQUET_UNREADABLE) from None
    names = [r[0] for r in schema]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DeliveryReadError(path, f"the Parquet file names column(s) {', '.join(dupes)} more than once")
    select = ", ".join(f"{_parquet_expr(n, str(t), types.get(n))} AS {_qi(n)}" for n, t, *_ in schema)
    return f"SELECT {select} FROM {rel}"


def delivery_select(con: duckdb.DuckDBPyConnection, path: Path, source: Source) -> str:
    """The SELECT that reads a delivery as canonical text (see `read_delivery`), rows not yet read.

    It lets a caller keep a big delivery inside DuckDB (validation reads it
    straight into a table) with the same checks and reasons as `read_delivery`:
    what can be seen before the rows are read (the file is there, not empty, a
    known type, a sound header or Parquet schema) raises `DeliveryReadError`
    here; a DuckDB error while the rows are read goes through
    `delivery_read_error`; no rows at all is `HEADER_ONLY`.
    """
    path = Path(path)
    if not path.exists():
        raise DeliveryReadError(path, "the file is no longer in the landing folder")
    size = path.stat().st_size
    if size == 0:
        raise DeliveryReadError(path, "empty file (0 bytes)")
    ext = path.suffix.lower()
    if ext == ".csv":
        with open(path, "rb") as fh:
            head = fh.read(4)
        if head.startswith(codecs.BOM_UTF8) and size <= 3 or head.strip() == b"" and size < 4:
            raise DeliveryReadError(path, "empty file (no header row)")
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel's "Unicode text"; also covers UTF-32 LE
            raise DeliveryReadError(path, "UTF-16 or UTF-32 encoded (byte-order mark at offset 0): the contract "
                                          "requires UTF-8; re-export as UTF-8 CSV")
        nul = _first_nul(path)
        if nul:
            raise DeliveryReadError(path, f"NUL byte at offset {nul[0]} (line {nul[1]}) of {size} bytes: not a text CSV "
                                          "file (zero padding from an unfinished transfer, or binary data); deliver the "
                                          "complete UTF-8 CSV file again")
        return _csv_select(path, source)
    if ext == ".parquet":
        return _parquet_select(con, path, source)
    raise DeliveryReadError(path, f"unsupported file type {ext or '(none)'}: deliver .csv or .parquet")


def delivery_read_error(path: Path, exc: Exception) -> DeliveryReadError:
    """The value-free reason for a DuckDB error raised while a delivery's rows were read."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return _csv_error(path, exc)
    return DeliveryReadError(path, PARQUET_UNREADABLE)


def read_delivery(path: Path, source: Source, threads: int = 2, memory_limit: str = "4GB") -> pa.Table:
    """Read a delivery into a table of strings in canonical text form (DuckDB does the reading).

    Dates are `YYYY-MM-DD`, booleans `true`/`false`, numbers plain text; an
    empty CSV field is null. Raises `DeliveryReadError` with a value-free reason.
    """
    path = Path(path)
    con = duckdb.connect(config={"threads": threads, "memory_limit": memory_limit})
    try:
        sql = delivery_select(con, path, source)
        try:
            table = con.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise delivery_read_error(path, exc) from None
    finally:
        con.close()
    if table.num_rows == 0:
        raise DeliveryReadError(path, HEADER_ONLY)
    return table


# --------------------------------------------------------------------------- typing


def _typed_expr(name: str, ctype: str, present: bool, default) -> str:
    sql_type = {"string": "VARCHAR", "date": "DATE", "boolean": "BOOLEAN", "integer": "INTEGER",
                "decimal": "DECIMAL(12, 2)"}[ctype]
    if not present:
        expr = f"CAST(NULL AS {sql_type})"
    elif ctype == "boolean":
        t = ", ".join(_sql_str(v) for v in TRUE_TEXT)
        f = ", ".join(_sql_str(v) for v in FALSE_TEXT)
        c = _qi(name)
        expr = f"CASE WHEN lower({c}) IN ({t}) THEN true WHEN lower({c}) IN ({f}) THEN false END"
    elif ctype == "string":
        expr = _qi(name)
    else:
        expr = f"CAST({_qi(name)} AS {sql_type})"
    if default is not None:
        expr = f"coalesce({expr}, {('true' if default else 'false') if isinstance(default, bool) else _sql_str(default)})"
    return f"{expr} AS {_qi(name)}"


def typed_table(text: pa.Table, source: Source) -> pa.Table:
    """Cast a validated text table to the contract's types, in contract column order.

    Missing optional columns become typed nulls; `deleted`/`opted_out` default to false.
    Columns outside the contract are dropped (validation refuses them anyway).
    """
    present = set(text.column_names)
    select = ", ".join(_typed_expr(c.name, c.type, c.name in present, c.default) for c in source.columns)
    con = duckdb.connect()
    try:
        con.register("text_delivery", text)
        return con.sql(f"SELECT {select} FROM text_delivery").to_arrow_table()
    finally:
        con.close()
