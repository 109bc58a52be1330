"""Builders for broken deliveries, made from rows of a real (synthetic) delivery.

`tests/test_broken_deliveries.py` takes a few hundred rows of the health
delivery a synthetic place already loaded, gives them fresh `record_id`s (so
an accepted copy would be new rows, not corrections), and breaks them in one
way per case. Every builder writes one file and returns the values it planted
that must never appear in a reason, a validation result or a report
(pseudonyms are looked for by their pattern instead).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

STAMP = "20261120"  # tonight's delivery date, the day after the fixture place's first run
HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def tail_rows(parquet: Path, n: int, prefix: str) -> pa.Table:
    """The last `n` rows (the most recent events) of a delivered Parquet file, with fresh record_ids."""
    table = pq.read_table(parquet)
    table = table.slice(max(table.num_rows - n, 0))
    ids = pa.array([f"{prefix}-{i:06d}" for i in range(1, table.num_rows + 1)])
    return table.set_column(table.column_names.index("record_id"), "record_id", ids)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def text_rows(table: pa.Table) -> list[dict[str, str]]:
    """Rows in the contract's CSV text form: ISO dates, true/false, empty for null."""
    return [{k: _text(v) for k, v in row.items()} for row in table.to_pylist()]


def csv_bytes(rows: list[dict[str, str]], columns: list[str], delimiter: str = ",") -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, delimiter=delimiter, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def write_csv(path: Path, rows: list[dict[str, str]], columns: list[str], encoding: str = "utf-8",
              delimiter: str = ",", bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ("\ufeff" if bom else "") + csv_bytes(rows, columns, delimiter)
    path.write_bytes(text.encode(encoding))
    return path


def write_parquet(path: Path, table: pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One broken delivery: where it goes, how it is made, and what the run must say about it.

    `build(folder, good)` writes the file into `folder` (the landing folder of
    its source, or elsewhere for misplaced files) from `good`, a contract-valid
    table, and returns the planted values that must never be echoed.
    `reason` holds fragments the reason must contain besides the file name.
    """

    name: str
    file: str
    build: Callable[[Path, pa.Table], list[str]]
    decision: str = "refused"
    reason: tuple[str, ...] = ()
    folder: str = "health"  # relative to the landing folder
    quarantine: str = "health"  # relative to the quarantine folder


def _csv_with(mutate: Callable[[list[dict[str, str]]], list[str]], columns: list[str] | None = None,
              **kw) -> Callable[[Path, pa.Table], list[str]]:
    """A builder: the good rows as CSV after `mutate(rows)`, which returns the values it planted."""
    def build(path: Path, good: pa.Table) -> list[str]:
        rows = text_rows(good)
        planted = mutate(rows)
        write_csv(path, rows, columns or good.column_names, **kw)
        return planted
    return build


def _set(row: int, column: str, value: str) -> Callable[[list[dict[str, str]]], list[str]]:
    def mutate(rows):
        rows[row][column] = value
        return [value]
    return mutate


def _nothing(rows):
    return []


def _empty(path: Path, good: pa.Table) -> list[str]:
    path.write_bytes(b"")
    return []


def _header_only(path: Path, good: pa.Table) -> list[str]:
    path.write_text(",".join(good.column_names) + "\n", encoding="utf-8")
    return []


def _truncated_parquet(path: Path, good: pa.Table) -> list[str]:
    write_parquet(path, good)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])  # the footer (schema, row groups) is lost
    return []


def _corrupt_parquet(path: Path, good: pa.Table) -> list[str]:
    write_parquet(path, good)
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid: mid + 64] = b"\xff" * 64  # magic bytes and footer intact, a column chunk overwritten
    path.write_bytes(bytes(data))
    return []


def _latin1(path: Path, good: pa.Table) -> list[str]:
    rows = text_rows(good)
    rows[4]["diagnosis_code"] = "F10.2 caf\u00e9"  # e-acute is 0xE9 in Latin-1, two bytes in UTF-8
    write_csv(path, rows, good.column_names, encoding="latin-1")
    return ["caf\u00e9"]


def _missing_column(path: Path, good: pa.Table) -> list[str]:
    cols = [c for c in good.column_names if c != "event_type"]
    write_csv(path, text_rows(good), cols)
    return []


def _extra_column(path: Path, good: pa.Table) -> list[str]:
    rows = text_rows(good)
    for i, r in enumerate(rows):
        r["ward_note"] = f"seen by duty team {i}"
    write_csv(path, rows, good.column_names + ["ward_note"])
    return ["seen by duty team"]


def _parquet_int_dates(path: Path, good: pa.Table) -> list[str]:
    """event_date delivered as an int64 yyyymmdd column: not castable to a date without guessing."""
    ints = pc.cast(pc.strftime(good.column("event_date"), format="%Y%m%d"), pa.int64())
    table = good.set_column(good.column_names.index("event_date"), "event_date", ints)
    write_parquet(path, table)
    return []  # the integers are dates written another way: nothing distinctive to look for


def _parquet_string_stay(path: Path, good: pa.Table) -> list[str]:
    """length_of_stay_days delivered as text with a word in it: a wrong type in a Parquet file."""
    stay = pc.cast(good.column("length_of_stay_days"), pa.string()).to_pylist()
    stay[7] = "threeish"  # a word no page uses ("three" is in the default rules' descriptions, shown on pages)
    table = good.set_column(good.column_names.index("length_of_stay_days"), "length_of_stay_days",
                            pa.array(stay, pa.string()))
    write_parquet(path, table)
    return ["threeish"]


def _duplicate_record_ids(rows):
    rows[11]["record_id"] = rows[10]["record_id"]
    return []


def _swap_case(row: int):
    def mutate(rows):
        rows[row]["person_id"] = rows[row]["person_id"].upper()
        return [rows[row]["person_id"]]
    return mutate


def _short_pseudonym(row: int):
    def mutate(rows):
        rows[row]["person_id"] = rows[row]["person_id"][:63]
        return []  # a prefix of a real pseudonym: the pattern check on reasons covers it
    return mutate


def good_csv(path: Path, good: pa.Table, bom: bool = False) -> list[str]:
    """The good rows as a contract-valid CSV (a BOM is tolerated by the contract)."""
    write_csv(path, text_rows(good), good.column_names, bom=bom)
    return []


def sparse_after_rows(path: Path, good: pa.Table, size: int = 2 * 1024 ** 3) -> list[str]:
    """A valid CSV padded with zeros to `size` bytes (sparse: no disk used), as an unfinished transfer leaves it."""
    write_csv(path, text_rows(good), good.column_names)
    with open(path, "r+b") as fh:
        fh.truncate(size)
    return []


def _ragged(row: int, delta: int):
    """One data row with one field too many (`delta` 1) or too few (-1): line row + 2 of the file."""
    def build(path: Path, good: pa.Table) -> list[str]:
        lines = csv_bytes(text_rows(good), good.column_names).split("\n")
        line = lines[row + 1]
        lines[row + 1] = line + ",ward 7" if delta > 0 else line.rsplit(",", 1)[0]
        path.write_text("\n".join(lines), encoding="utf-8")
        return ["ward 7"] if delta > 0 else []
    return build


def _utf16(path: Path, good: pa.Table) -> list[str]:
    path.write_bytes(csv_bytes(text_rows(good), good.column_names).encode("utf-16"))  # with a byte-order mark
    return []


def _cr_only(path: Path, good: pa.Table) -> list[str]:
    path.write_bytes(csv_bytes(text_rows(good), good.column_names).replace("\n", "\r").encode("utf-8"))
    return []


def _other_key(rows):
    """Every pseudonym re-keyed, as when the trusted third party's key changes: valid hex, nobody registered."""
    for r in rows:
        r["person_id"] = hashlib.sha256(("rekeyed" + r["person_id"]).encode()).hexdigest()
    return []


def _nhs_number_value(rows):
    rows[5]["diagnosis_code"] = "943 476 5919"  # the standard test NHS number (passes modulus 11)
    return ["943 476 5919", "9434765919"]


N = 300  # rows per broken delivery; row k below is data row k + 1 in a reason

CASES: tuple[Case, ...] = (
    Case("empty file", f"health_{STAMP}_2.csv", _empty, reason=("empty file (0 bytes)",)),
    Case("header only", f"health_{STAMP}_3.csv", _header_only, reason=("header only", "no data rows")),
    Case("truncated parquet", f"health_{STAMP}_4.parquet", _truncated_parquet,
         reason=("not a readable Parquet file (truncated or corrupt)",)),
    Case("corrupt parquet", f"health_{STAMP}_5.parquet", _corrupt_parquet,
         reason=("not a readable Parquet file (truncated or corrupt)",)),
    Case("latin-1 csv", f"health_{STAMP}_6.csv", _latin1, reason=("not UTF-8 (byte 0xE9 at", "re-export as UTF-8")),
    Case("semicolons", f"health_{STAMP}_7.csv", _csv_with(_nothing, delimiter=";"),
         reason=("semicolon-separated", "comma-separated")),
    Case("missing column", f"health_{STAMP}_8.csv", _missing_column, reason=("required column event_type is missing",)),
    Case("extra column", f"health_{STAMP}_9.csv", _extra_column,
         reason=("ward_note", "not in the contract", "data minimisation")),
    Case("wrong type in csv", f"health_{STAMP}_10.csv", _csv_with(_set(5, "length_of_stay_days", "threeish")),
         reason=("length_of_stay_days", "an integer written as a whole number", f"1 of {N} rows", "data row 6")),
    Case("wrong type in parquet (stay as text)", f"health_{STAMP}_11.parquet", _parquet_string_stay,
         reason=("length_of_stay_days", "an integer written as a whole number", f"1 of {N} rows", "data row 8")),
    Case("wrong type in parquet (event_date as int64)", f"health_{STAMP}_12.parquet", _parquet_int_dates,
         reason=("event_date", "a date written as YYYY-MM-DD", f"{N} of {N} rows")),
    Case("31/02/2026", f"health_{STAMP}_13.csv", _csv_with(_set(3, "event_date", "31/02/2026")),
         reason=("event_date", "a date written as YYYY-MM-DD", f"1 of {N} rows", "data row 4")),
    Case("2026-02-31", f"health_{STAMP}_14.csv", _csv_with(_set(3, "event_date", "2026-02-31")),
         reason=("event_date is a real calendar date", f"1 of {N} rows", "data row 4")),
    Case("future date", f"health_{STAMP}_15.csv", _csv_with(_set(7, "event_date", "2026-11-21")),
         reason=("event_date", "not after the delivery date", f"1 of {N} rows", "data row 8")),
    Case("before 2000", f"health_{STAMP}_16.csv", _csv_with(_set(2, "event_date", "1999-12-31")),
         reason=("event_date", "not before 2000-01-01", f"1 of {N} rows", "data row 3")),
    Case("unknown event code", f"health_{STAMP}_17.csv", _csv_with(_set(4, "event_type", "ae_attendence")),
         reason=("event_type is one of the health codes", f"1 of {N} rows", "data row 5")),
    Case("pseudonym of the wrong length", f"health_{STAMP}_18.csv", _csv_with(_short_pseudonym(1)),
         reason=("person_id matches the contract pattern `pseudonym`", f"1 of {N} rows", "data row 2")),
    Case("pseudonym in upper case", f"health_{STAMP}_19.csv", _csv_with(_swap_case(1)),
         reason=("person_id matches the contract pattern `pseudonym`", f"1 of {N} rows", "data row 2")),
    Case("duplicate record_id", f"health_{STAMP}_20.csv", _csv_with(_duplicate_record_ids),
         reason=("record_id is unique within the delivery", f"2 of {N} rows", "data rows 11, 12")),
    Case("extra field on one row", f"health_{STAMP}_22.csv", _ragged(6, +1),
         reason=("wrong number of fields at line 8", "expected 8 as in the header, found 9")),
    Case("missing field on one row", f"health_{STAMP}_23.csv", _ragged(6, -1),
         reason=("wrong number of fields at line 8", "expected 8 as in the header, found 7")),
    Case("utf-16 csv", f"health_{STAMP}_24.csv", _utf16, reason=("UTF-16", "re-export as UTF-8")),
    Case("carriage returns only", f"health_{STAMP}_25.csv", _cr_only, reason=("carriage return only",)),
    Case("pseudonymisation key changed", f"health_{STAMP}_26.csv", _csv_with(_other_key), decision="held",
         reason=("key mismatch", "match no registered person", "person_id")),
    Case("nhs number in a column", f"health_{STAMP}_27.csv", _csv_with(_nhs_number_value),
         reason=("data minimisation", "column diagnosis_code holds 1 valid NHS number(s) (data row 6)")),
    Case("column named like an identifier", f"health_{STAMP}_28.csv",
         _csv_with(_nothing, columns=["record_id", "person_id", "event_date", "event_type", "nhs_no"]),
         reason=("data minimisation", "column nhs_no is named like a direct identifier (nhs_number)")),
    Case("file name matching no source", "hospital_extract_nov.csv", good_csv,
         reason=("matches no source",), quarantine="_unrecognised"),
    Case("file in the wrong source folder", f"health_{STAMP}_21.csv", good_csv, folder="police",
         reason=("a health delivery found in folder police/", "must be dropped into health/"),
         quarantine="_unrecognised"),
)
