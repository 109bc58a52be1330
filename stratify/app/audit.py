"""The append-only audit log: every page view and refusal, each row carrying the hash of the one before.

A row is who (user, role, team), when, what (action and target: a list,
a person's pseudonym, a page), from which client address, allowed or
refused, and a short detail. `row_hash` is the sha256 of the row's fields
(canonical JSON) followed by the previous row's hash (`GENESIS` for the
first), so altering, inserting or removing any row breaks every hash after
it; SQLite triggers refuse UPDATE and DELETE. `verify` recomputes the chain
and names the first broken row.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from stratify.app.store import iso, transaction

GENESIS = "0" * 64
FIELDS = ("seq", "at", "user_name", "role", "team", "action", "target", "client", "allowed", "detail")
MAX_SHOWN = 500


def row_hash(fields: dict, prev_hash: str) -> str:
    body = json.dumps([fields[k] for k in FIELDS], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((body + "\n" + prev_hash).encode("utf-8")).hexdigest()


def append(con: sqlite3.Connection, *, now: datetime, user: str | None, role: str | None, team: str | None,
           action: str, target: str, client: str | None, allowed: bool, detail: str = "") -> int:
    """Add one row at the end of the chain (one writer at a time); its sequence number."""
    with transaction(con):
        last = con.execute("SELECT seq, row_hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (last["seq"] + 1, last["row_hash"]) if last else (1, GENESIS)
        fields = {"seq": seq, "at": iso(now), "user_name": user, "role": role, "team": team, "action": action,
                  "target": target, "client": client, "allowed": int(bool(allowed)), "detail": detail}
        con.execute(f"INSERT INTO audit ({', '.join(FIELDS)}, prev_hash, row_hash) "
                    f"VALUES ({', '.join('?' * len(FIELDS))}, ?, ?)",
                    [fields[k] for k in FIELDS] + [prev, row_hash(fields, prev)])
    return seq


@dataclass(frozen=True)
class Verified:
    rows: int
    broken_at: int | None  # the first row whose hash or link does not hold
    why: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify(con: sqlite3.Connection) -> Verified:
    """Recompute the chain from the first row; the first row that does not hold, and why."""
    prev, expected_seq, n = GENESIS, 1, 0
    for row in con.execute(f"SELECT {', '.join(FIELDS)}, prev_hash, row_hash FROM audit ORDER BY seq"):
        n += 1
        fields = {k: row[k] for k in FIELDS}
        if row["seq"] != expected_seq:
            return Verified(n, row["seq"], f"row {expected_seq} is missing (the next row is {row['seq']})")
        if row["prev_hash"] != prev:
            return Verified(n, row["seq"], "its prev_hash is not the hash of the row before")
        if row_hash(fields, prev) != row["row_hash"]:
            return Verified(n, row["seq"], "its content does not match its hash (the row was altered)")
        prev, expected_seq = row["row_hash"], expected_seq + 1
    return Verified(n, None)


FILTERS = ("user_name", "team", "action", "allowed", "since", "until")


def search(con: sqlite3.Connection, filters: dict[str, str]) -> list[dict]:
    """The newest rows matching the filters (each optional), at most `MAX_SHOWN`."""
    where, params = [], []
    for key in ("user_name", "team", "action"):
        if filters.get(key):
            where.append(f"{key} = ?")
            params.append(filters[key])
    if filters.get("allowed") in ("0", "1"):
        where.append("allowed = ?")
        params.append(int(filters["allowed"]))
    if filters.get("since"):
        where.append("at >= ?")
        params.append(filters["since"])
    if filters.get("until"):
        where.append("substr(at, 1, 10) <= ?")
        params.append(filters["until"])
    sql = (f"SELECT {', '.join(FIELDS)} FROM audit {'WHERE ' + ' AND '.join(where) if where else ''} "
           f"ORDER BY seq DESC LIMIT {MAX_SHOWN}")
    return [dict(r) for r in con.execute(sql, params)]


def as_csv(rows: list[dict]) -> str:
    """Rows of the log as CSV; a value that a spreadsheet would run as a formula is kept as text."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v) for k, v in r.items()})
    return buf.getvalue()
