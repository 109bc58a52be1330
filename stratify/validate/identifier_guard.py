"""The direct-identifier guard: no delivery may carry a column named like a direct identifier or a valid NHS number.

Runs on the work table (`stratify.validate.workspace`) before any suite:
data minimisation comes first. `identifier_findings` names each column found,
the kind, how many rows and the first row numbers, never a value.
`prepare_guard` defines the check-digit macro on the connection.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from stratify.contract import load_contract
from stratify.validate.findings import MAX_ROWS_SHOWN
from stratify.validate.workspace import WORK_TABLE, quoted

NHS_MACRO = (
    "CREATE OR REPLACE TEMP MACRO stratify_nhs_int_ok(n) AS "
    "((11 - (" + " + ".join(f"((n // {10 ** (10 - i)}) % 10) * {11 - i}" for i in range(1, 10)) + ") % 11) % 11) = n % 10"
)


def prepare_guard(con: duckdb.DuckDBPyConnection) -> None:
    """Define the NHS-number check-digit macro on `con` (a temporary macro: gone with the connection)."""
    con.execute(NHS_MACRO)


# exactly ten digits, possibly grouped by spaces or hyphens (943 476 5919), in 10 to 13 characters
NHS_CANDIDATE = "[ -]*(?:[0-9][ -]*){10}"


def parquet_columns_without_digits(con: duckdb.DuckDBPyConnection, path: Path) -> set[str]:
    """Columns of a Parquet delivery typed DATE, TIMESTAMP or BOOLEAN: their text can never be ten digits.

    The NHS-number scan skips them (on a big delivery the date columns are
    most of its cost); a CSV has no types, so every column is scanned.
    """
    if Path(path).suffix.lower() != ".parquet":
        return set()
    try:
        described = con.execute("SELECT * FROM read_parquet($path) LIMIT 0", {"path": str(path)}).description
    except duckdb.Error:
        return set()
    return {name for name, type_code, *_ in described
            if str(type_code).upper() in ("DATE", "BOOLEAN") or str(type_code).upper().startswith("TIMESTAMP")}


def identifier_findings(con: duckdb.DuckDBPyConnection, columns: list[str],
                        without_digits: set[str] = frozenset()) -> list[dict]:
    """Direct identifiers in the work table: columns named like one, and valid NHS numbers in any column.

    Each finding names the column, the kind, how many rows and the first row
    numbers; never a value. NHS numbers are found by DuckDB: a value of 10
    to 13 characters that is ten digits (possibly grouped by spaces or
    hyphens) and passes the modulus-11 check digit, by integer arithmetic.
    One regular expression per value of a possible length, and the digits
    are only taken out of the values it matches: the scan reads every
    column of a big delivery, so it is kept cheap. Columns in
    `without_digits` (see `parquet_columns_without_digits`) are not read.

    Two passes: the first counts ten-digit candidates in every column; the
    check digit is computed only in a second pass over the columns that
    have any (usually none). Why: the check-digit macro repeats its argument
    ten times, and DuckDB took some 5 ms per column just to plan it, most
    of a small delivery's scan; in the second pass it reads a column of
    the candidates computed once.
    """
    contract = load_contract()
    findings = []
    for name in columns:
        kind = contract.identifier_kind(name)
        if kind:
            findings.append({"column": name, "kind": kind, "by": "name", "rows": None, "first_rows": []})

    def nhs_int(name: str) -> str:
        c = quoted(name)
        # nested CASEs: each step only runs on the values that passed the one before
        return (f"CASE WHEN length({c}) BETWEEN 10 AND 13 THEN CASE WHEN regexp_full_match({c}, $nhs) "
                f"THEN CAST(regexp_replace({c}, '[ -]', '', 'g') AS BIGINT) END END")

    scanned = [n for n in columns if n not in without_digits]
    if not scanned:
        return findings
    candidates = con.execute("SELECT " + ", ".join(f"count({nhs_int(n)})" for n in scanned) + f" FROM {WORK_TABLE}",
                             {"nhs": NHS_CANDIDATE}).fetchall()[0]
    suspects = [n for n, k in zip(scanned, candidates) if k]
    if not suspects:
        return findings
    digits = ", ".join(f"{nhs_int(n)} AS __stratify_nhs_{i}" for i, n in enumerate(suspects))
    checks = ", ".join(f"count(*) FILTER (WHERE stratify_nhs_int_ok(__stratify_nhs_{i}))" for i in range(len(suspects)))
    counts = con.execute(f"SELECT {checks} FROM (SELECT {digits} FROM {WORK_TABLE})",
                         {"nhs": NHS_CANDIDATE}).fetchall()[0]
    for name, n in zip(suspects, counts):
        if n:
            first = con.execute(
                f"SELECT rowid + 1 FROM {WORK_TABLE} WHERE stratify_nhs_int_ok({nhs_int(name)}) ORDER BY rowid "
                f"LIMIT {MAX_ROWS_SHOWN}", {"nhs": NHS_CANDIDATE}).fetchall()
            findings.append({"column": name, "kind": "nhs_number", "by": "value", "rows": int(n),
                             "first_rows": [int(r[0]) for r in first]})
    return findings
