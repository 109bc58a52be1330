"""Recording what a team did: a review on record, written as a contract `outcomes` delivery.

`record_review` keeps the review in the app (who, when, what, the key
worker and the note, which never leave the app), then writes it to
`<landing>/outcomes/outcomes_<YYYYMMDD>_<seq>.csv` with the contract's
columns (record_id, person_id, team, event_date, outcome) and nothing else.
The file is written under a dot-name in the same folder (discovery skips
dot-files, and the name matches no delivery pattern), fsynced, renamed
into place and the folder fsynced: the nightly run sees the whole file or
nothing. The review row is committed first and marks its delivery once the
file is in place; `deliver_pending` writes any review whose file a stopped
server never wrote, so nothing recorded is lost.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from stratify.app.store import iso, transaction
from stratify.config import PlaceConfig
from stratify.contract import load_contract

OUTCOME_COLUMNS = ("record_id", "person_id", "team", "event_date", "outcome")
MAX_NOTE = 500
MAX_DAYS_BACK = 366
TAKES_EFFECT = "recorded: takes effect in tonight's list"


def outcome_codes() -> tuple[str, ...]:
    return load_contract().source("outcomes").column("outcome").codes


class ReviewRefused(ValueError):
    """The form's values cannot be recorded; the message says which field and why."""


@dataclass(frozen=True)
class Review:
    record_id: str
    person_id: str
    team: str
    outcome: str
    event_date: date
    key_worker: str | None
    note: str
    reviewed_by: str


def check_review(outcome: str, event_date: str, key_worker: str, note: str, members: list[str],
                 today: date) -> tuple[str, date, str | None, str]:
    """The form's fields, checked: a contract outcome code, a date in the last year, a team member, a short note."""
    if outcome not in outcome_codes():
        raise ReviewRefused(f"outcome must be one of {', '.join(outcome_codes())}")
    try:
        when = date.fromisoformat((event_date or "").strip())
    except ValueError:
        raise ReviewRefused("the date must be a date (YYYY-MM-DD)") from None
    if when > today or when < today - timedelta(days=MAX_DAYS_BACK):
        raise ReviewRefused(f"the date must be between {today - timedelta(days=MAX_DAYS_BACK)} and today ({today})")
    key_worker = (key_worker or "").strip() or None
    if key_worker is not None and key_worker not in members:
        raise ReviewRefused("the key worker must be a member of the team")
    note = " ".join((note or "").split())
    if len(note) > MAX_NOTE or not note.isprintable():
        raise ReviewRefused(f"the note must be at most {MAX_NOTE} printable characters")
    return outcome, when, key_worker, note


def record_review(con: sqlite3.Connection, cfg: PlaceConfig, review: Review, run_id: str, now: datetime,
                  delivery_date: date) -> Path:
    """Keep the review, then deliver it; the delivery's path."""
    with transaction(con):
        con.execute("INSERT INTO reviews (record_id, person_id, team, outcome, event_date, key_worker, note, "
                    "reviewed_by, reviewed_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [review.record_id, review.person_id, review.team, review.outcome, review.event_date.isoformat(),
                     review.key_worker, review.note, review.reviewed_by, iso(now), run_id])
    return _deliver(con, cfg, review.record_id, delivery_date)


def new_record_id() -> str:
    return f"app-{uuid.uuid4().hex}"


def _deliver(con: sqlite3.Connection, cfg: PlaceConfig, record_id: str, delivery_date: date) -> Path:
    row = con.execute("SELECT record_id, person_id, team, event_date, outcome FROM reviews WHERE record_id = ?",
                      [record_id]).fetchone()
    folder = cfg.landing / "outcomes"
    folder.mkdir(parents=True, exist_ok=True)
    with transaction(con):  # one writer picks the next free sequence number of the day
        seq = _next_seq(con, cfg, delivery_date)
        target = folder / f"outcomes_{delivery_date:%Y%m%d}_{seq}.csv"
        write_atomically(target, _csv([dict(row)]))
        con.execute("UPDATE reviews SET delivery = ? WHERE record_id = ?", [target.name, record_id])
    return target


def _next_seq(con: sqlite3.Connection, cfg: PlaceConfig, day: date) -> int:
    """One more than any sequence number of the day seen in landing, the archive, the quarantine or by the app."""
    stamp = f"{day:%Y%m%d}"
    pattern = re.compile(rf"outcomes_{stamp}(?:_(\d+))?\.(?:csv|parquet)$")
    seen = [0]
    for folder in (cfg.landing / "outcomes", cfg.archive / "outcomes", cfg.quarantine / "outcomes"):
        if folder.is_dir():
            seen += [int(m.group(1) or 1) for p in folder.iterdir() if (m := pattern.match(p.name))]
    row = con.execute("SELECT last_seq FROM delivery_seq WHERE delivery_date = ?", [stamp]).fetchone()
    seq = max(max(seen), row[0] if row else 0) + 1
    con.execute("INSERT INTO delivery_seq (delivery_date, last_seq) VALUES (?, ?) "
                "ON CONFLICT (delivery_date) DO UPDATE SET last_seq = excluded.last_seq", [stamp, seq])
    return seq


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=OUTCOME_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: r[k] for k in OUTCOME_COLUMNS})
    return buf.getvalue()


def write_atomically(target: Path, text: str, mode: int = 0o640) -> None:
    """`text` at `target`, whole or not at all: a dot-named file in the same folder, fsynced, renamed, folder fsynced."""
    if target.exists():
        raise FileExistsError(f"{target} exists; a delivery is never overwritten")
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.writing")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dfd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def deliver_pending(con: sqlite3.Connection, cfg: PlaceConfig, delivery_date: date) -> list[Path]:
    """Write the delivery of every review a stopped server kept but never delivered."""
    ids = [r[0] for r in con.execute("SELECT record_id FROM reviews WHERE delivery IS NULL ORDER BY review_id")]
    return [_deliver(con, cfg, rid, delivery_date) for rid in ids]


def history(con: sqlite3.Connection, team: str, person_id: str) -> list[dict]:
    """The team's reviews of a person in the app, newest first (key worker and note included: app-only)."""
    return [dict(r) for r in con.execute(
        "SELECT outcome, event_date, key_worker, note, reviewed_by, reviewed_at, delivery FROM reviews "
        "WHERE team = ? AND person_id = ? ORDER BY reviewed_at DESC", [team, person_id])]


def last_reviews(con: sqlite3.Connection, team: str) -> dict[str, dict]:
    """Each person's latest review by the team: who reviewed them and when (shown on the list)."""
    rows = con.execute("SELECT person_id, outcome, reviewed_by, reviewed_at FROM reviews r WHERE team = ? AND "
                       "reviewed_at = (SELECT max(reviewed_at) FROM reviews WHERE team = r.team AND "
                       "person_id = r.person_id)", [team])
    return {r["person_id"]: dict(r) for r in rows}
