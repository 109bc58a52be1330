"""Reading a delivery as canonical text, and typing it once it has passed validation.

Reading is done by DuckDB, never by loading a whole file into pandas: the
result is a table of strings in canonical text form (dates `YYYY-MM-DD`,
booleans `true`/`false`, numbers plain text, an empty CSV field null) that the
validation stage checks against the contract, and that `typed_table` casts
to the contract's types. The file's path and the delivered column names
reach DuckDB through its relational API (`read_csv`, `read_parquet`,
column and constant expressions), never written into SQL text.

Only a regular file with one name is read, opened without following a link
(`stratify.files.durable.open_regular`). No message written here ever
contains a delivered value: reasons name files, columns, rules, row or line
numbers and byte offsets only.
"""

from __future__ import annotations

import codecs
import csv
import errno
import io
import os
import re
from pathlib import Path

import duckdb
import pyarrow as pa
from duckdb import CaseExpression, CoalesceOperator, ColumnExpression, ConstantExpression, Expression, FunctionExpression

from stratify.contract import Source
from stratify.errors import DeliveryError
from stratify.files.durable import CHUNK, NotARegularFile, open_regular
from stratify.ingest.landing import entry_problem, shown

TRUE_TEXT = ("true", "t", "1")
FALSE_TEXT = ("false", "f", "0")
PARQUET_UNREADABLE = "not a readable Parquet file (truncated or corrupt): deliver the complete file again"
HEADER_ONLY = "header only: the file has no data rows"
TEXT_VIEW = "stratify_delivery_text"  # the temporary view `delivery_select` reads through
SQL_TYPES = {"string": "VARCHAR", "date": "DATE", "boolean": "BOOLEAN", "integer": "INTEGER",
             "decimal": "DECIMAL(12, 2)"}


class DeliveryReadError(DeliveryError, ValueError):
    """A delivery cannot be read as the contract describes; `reason` is plain text without values."""

    def __init__(self, file: str | Path, reason: str):
        self.file = shown(Path(file).name)
        self.reason = reason
        super().__init__(f"{self.file}: {reason}")


# --------------------------------------------------------------------------- the file itself


def _open(path: Path) -> io.BufferedReader:
    """The delivery opened for reading: a regular file with one name, never through a link."""
    try:
        return os.fdopen(open_regular(path), "rb")
    except NotARegularFile:
        raise DeliveryReadError(path, entry_problem(os.lstat(path)) or "replaced while it was being read") from None
    except PermissionError:
        raise DeliveryReadError(path, "cannot be read by the user that runs stratify (permission denied): make "
                                      "it readable by that user or its group, then deliver it again") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symbolic link
            raise DeliveryReadError(path, entry_problem(os.lstat(path)) or "a symbolic link") from None
        raise


def _first_bad_utf8(path: Path) -> tuple[int, int, int] | None:
    """(offset, byte, line) of the first byte that is not valid UTF-8, streamed; None if the file is UTF-8."""
    dec = codecs.getincrementaldecoder("utf-8")()
    offset = 0  # file offset of the first byte of `chunk`
    line = 1  # line number at the first byte of `chunk`
    with _open(path) as fh:
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
    with _open(path) as fh:
        while chunk := fh.read(CHUNK):
            at = chunk.find(b"\0")
            if at >= 0:
                return offset + at, line + chunk.count(b"\n", 0, at)
            offset += len(chunk)
            line += chunk.count(b"\n")
    return None


def _read_header(path: Path) -> list[str]:
    with _open(path) as fh:
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


# --------------------------------------------------------------------------- canonical text, as expressions


def _type(name: str):
    return duckdb.sqltype(name)


def _text(value: str) -> Expression:
    return ConstantExpression(value)


def _boolean_text(expr: Expression) -> Expression:
    lowered = FunctionExpression("lower", expr)
    return (CaseExpression(lowered.isin(*map(_text, TRUE_TEXT)), _text("true"))
            .when(lowered.isin(*map(_text, FALSE_TEXT)), _text("false")).otherwise(expr))


def _nullif_empty(expr: Expression) -> Expression:
    return FunctionExpression("nullif", expr, _text(""))


def _csv_columns(header: list[str], source: Source) -> list[Expression]:
    types = {c.name: c.type for c in source.columns}
    out = []
    for h in header:
        expr = _nullif_empty(ColumnExpression(h))
        if types.get(h) == "boolean":
            expr = _boolean_text(expr)
        out.append(expr.alias(h))
    return out


def _parquet_expr(name: str, duck_type: str, contract_type: str | None) -> Expression:
    c = ColumnExpression(name)
    t = duck_type.upper()
    varchar = _type("VARCHAR")
    if t == "DATE":
        return FunctionExpression("strftime", c, _text("%Y-%m-%d"))
    if t.startswith("TIMESTAMP"):
        if contract_type == "date":
            ts = c.cast(_type("TIMESTAMP"))
            return (CaseExpression(ts == FunctionExpression("date_trunc", _text("day"), ts),
                                   FunctionExpression("strftime", ts, _text("%Y-%m-%d")))
                    .otherwise(FunctionExpression("strftime", ts, _text("%Y-%m-%d %H:%M:%S"))))
        return c.cast(varchar)
    if t == "BOOLEAN":
        return CaseExpression(c, _text("true")).when(~c, _text("false"))
    whole = c.cast(_type("BIGINT")).cast(varchar)
    if t in ("FLOAT", "DOUBLE", "REAL") and contract_type == "integer":
        finite_whole = (FunctionExpression("isfinite", c) & (c == FunctionExpression("trunc", c))
                        & (FunctionExpression("abs", c) < ConstantExpression(9e15)))
        return CaseExpression(finite_whole, whole).otherwise(c.cast(varchar))
    if t in ("VARCHAR", "STRING") or t.startswith("VARCHAR"):
        expr = _nullif_empty(c)
        return _boolean_text(expr) if contract_type == "boolean" else expr
    if t.startswith("DECIMAL") and contract_type == "integer":
        return CaseExpression(c == FunctionExpression("trunc", c), whole).otherwise(c.cast(varchar))
    if contract_type == "boolean" and t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
                                            "UINTEGER", "UBIGINT"):
        return (CaseExpression(c == ConstantExpression(1), _text("true")).when(c == ConstantExpression(0), _text("false"))
                .otherwise(c.cast(varchar)))
    return _nullif_empty(c.cast(varchar))


def _parquet_relation(con: duckdb.DuckDBPyConnection, path: Path, source: Source) -> duckdb.DuckDBPyRelation:
    types = {c.name: c.type for c in source.columns}
    try:
        rel = con.read_parquet(str(path))
        names, duck_types = rel.columns, [str(t) for t in rel.types]
    except duckdb.Error:
        raise DeliveryReadError(path, PARQUET_UNREADABLE) from None
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DeliveryReadError(path, f"the Parquet file names column(s) {', '.join(dupes)} more than once")
    return rel.select(*(_parquet_expr(n, t, types.get(n)).alias(n) for n, t in zip(names, duck_types)))


def _csv_relation(con: duckdb.DuckDBPyConnection, path: Path, source: Source) -> duckdb.DuckDBPyRelation:
    header = _read_header(path)
    try:
        rel = con.read_csv(str(path), columns={h: "VARCHAR" for h in header}, header=True, sep=",", quotechar='"',
                           escapechar='"', strict_mode=True, auto_detect=False, null_padding=False, encoding="utf-8")
    except duckdb.Error as exc:
        raise _csv_error(path, exc) from None
    return rel.select(*_csv_columns(header, source))


def delivery_relation(con: duckdb.DuckDBPyConnection, path: Path, source: Source) -> duckdb.DuckDBPyRelation:
    """The delivery as canonical text (see `read_delivery`), a DuckDB relation on `con`, rows not yet read.

    What can be seen before the rows are read (the file is there, a regular
    file of its own, not empty, a known type, a sound header or Parquet
    schema) raises `DeliveryReadError` here; a DuckDB error while the rows
    are read goes through `delivery_read_error`; no rows at all is `HEADER_ONLY`.
    """
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise DeliveryReadError(path, "the file is no longer in the landing folder") from None
    problem = entry_problem(st)
    if problem:
        raise DeliveryReadError(path, problem)
    size = st.st_size
    if size == 0:
        raise DeliveryReadError(path, "empty file (0 bytes)")
    ext = path.suffix.lower()
    if ext == ".csv":
        with _open(path) as fh:
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
        return _csv_relation(con, path, source)
    if ext == ".parquet":
        return _parquet_relation(con, path, source)
    raise DeliveryReadError(path, f"unsupported file type {ext or '(none)'}: deliver .csv or .parquet")


def delivery_select(con: duckdb.DuckDBPyConnection, path: Path, source: Source) -> str:
    """A SELECT over the delivery as canonical text, for SQL that embeds it (the validation work table).

    The relation (`delivery_relation`) becomes the temporary view
    `stratify_delivery_text` of `con`, replacing the last delivery's, and the
    text returned names only that view: no path or column name is in it.
    """
    delivery_relation(con, path, source).create_view(TEXT_VIEW, replace=True)
    return f"SELECT * FROM {TEXT_VIEW}"


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
        rel = delivery_relation(con, path, source)
        try:
            table = rel.to_arrow_table()
        except duckdb.Error as exc:
            raise delivery_read_error(path, exc) from None
    finally:
        con.close()
    if table.num_rows == 0:
        raise DeliveryReadError(path, HEADER_ONLY)
    return table


# --------------------------------------------------------------------------- typing


def _typed_expr(name: str, ctype: str, present: bool, default) -> Expression:
    sql_type = _type(SQL_TYPES[ctype])
    c = ColumnExpression(name)
    if not present:
        expr = ConstantExpression(None).cast(sql_type)
    elif ctype == "boolean":
        lowered = FunctionExpression("lower", c)
        expr = (CaseExpression(lowered.isin(*map(_text, TRUE_TEXT)), ConstantExpression(True))
                .when(lowered.isin(*map(_text, FALSE_TEXT)), ConstantExpression(False)))
    elif ctype == "string":
        expr = c
    else:
        expr = c.cast(sql_type)
    if default is not None:
        expr = CoalesceOperator(expr, ConstantExpression(default))
    return expr.alias(name)


def typed_table(text: pa.Table, source: Source) -> pa.Table:
    """Cast a validated text table to the contract's types, in contract column order.

    Missing optional columns become typed nulls; `deleted`/`opted_out` default to false.
    Columns outside the contract are dropped (validation refuses them anyway).
    """
    present = set(text.column_names)
    con = duckdb.connect()
    try:
        rel = con.from_arrow(text)
        return rel.select(*(_typed_expr(c.name, c.type, c.name in present, c.default) for c in source.columns)
                          ).to_arrow_table()
    finally:
        con.close()
