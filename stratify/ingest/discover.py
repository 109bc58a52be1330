"""Discover: find the deliveries in the landing zone and record each one as a delivery of the run.

`discover_deliveries` is stage 1 of a run (after `pull`): every entry under
`cfg.landing` that is worth telling gets a `deliveries` row: `pending` (to be
validated), `duplicate` (its sha256 was already accepted) or `refused` with
its reason. The landing zone is looked at without following a link or
opening anything (`stratify.ingest.landing`): a symbolic link, a hard link, a
FIFO or a device is refused and quarantined as the entry it is, a symbolic
link to a folder or a folder nested too deep is reported and left where it
is, and a file the pipeline may not read is refused and left for the next
run. No entry stops the night: the other deliveries are recorded as usual.

File names are matched whole against the contract's pattern (a name ending in
a newline is not a delivery name), and shown with control characters
escaped. No message written here ever contains a delivered value.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import time
from datetime import UTC, datetime
from pathlib import Path

from stratify.config import PlaceConfig
from stratify.contract import Contract, DeliveryName, load_contract
from stratify.files.durable import NotARegularFile, sha256_file
from stratify.ingest.landing import Candidate, Refusal, look_at_landing, shown
from stratify.ingest.storage import LandingEntryError, quarantine_file
from stratify.run.context import RunContext
from stratify.warehouse.database import SQL_DIR, connect, run_sql_file

EARLIER_SQL = SQL_DIR / "discover_earlier.sql"
RECORD_SQL = SQL_DIR / "discover_record.sql"


def delivery_name(contract: Contract, name: str) -> tuple[DeliveryName | None, str | None]:
    """What a file name says (source, date, sequence), or None and why it is not a delivery name.

    The whole name must match the contract's pattern (`re.fullmatch`: a `$`
    would also match before a trailing newline), and a name with a control
    character (a newline, a tab) is never one.
    """
    if not name.isprintable():
        return None, (f"the file name holds a control character ({shown(''.join(c for c in name if not c.isprintable()))}): "
                      "rename it to <source>_<YYYYMMDD>[_<seq>].parquet or .csv")
    parsed = contract.parse_file_name(name) if re.fullmatch(contract.file_name_pattern, name) else None
    if parsed is None:
        return None, (f"the file name matches no source of contract v{contract.version}; expected "
                      f"<source>_<YYYYMMDD>[_<seq>].parquet or .csv with a real date and source one of "
                      f"{', '.join(contract.source_names)}")
    return parsed, None


def _settled(found: list[Candidate], settle_seconds: float) -> list[Candidate]:
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
            st = os.lstat(p)
            return (st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            return None

    first = {c.path: (c.st.st_size, c.st.st_mtime_ns) for c in found}
    now_ns, quiet_ns = time.time_ns(), int(settle_seconds * 1e9)
    recent = {p for p, seen in first.items() if not (now_ns - seen[1] >= quiet_ns)}
    if recent and settle_seconds > 0:
        newest = max(first[p][1] for p in recent)
        wait_ns = quiet_ns if newest > now_ns else newest + quiet_ns - now_ns
        time.sleep(wait_ns / 1e9)
    return [c for c in found if c.path not in recent or look(c.path) == first[c.path]]


def _changed_since(path: Path, before: os.stat_result) -> bool:
    """Whether the entry grew, shrank, was rewritten, replaced (a link swapped in) or went away after `before`."""
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return True
    keys = ("st_size", "st_mtime_ns", "st_ino", "st_dev", "st_nlink", "st_mode")
    return any(getattr(now, k) != getattr(before, k) for k in keys)


def _unreadable(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return ("cannot be read by the user that runs stratify (permission denied): make it readable by that user "
                "or its group (e.g. chmod g+r); it stays in landing and is taken on the next run")
    return f"cannot be read ({exc.strerror or exc}); it stays in landing and is taken on the next run once it can be"


class _Recorder:
    """Writes the `deliveries` rows of one discovery and counts them."""

    def __init__(self, cfg: PlaceConfig, ctx: RunContext, con, summary: dict):
        self.cfg, self.ctx, self.con, self.summary = cfg, ctx, con, summary

    def record(self, path: Path, st: os.stat_result | None, decision: str, reason: str | None, stored: Path | str,
               parsed: DeliveryName | None = None, source: str | None = None, sha: str = "", name: str | None = None) -> int:
        regular = st is not None and stat.S_ISREG(st.st_mode)
        received = datetime.fromtimestamp(st.st_mtime, UTC) if st is not None else datetime.now(UTC)
        delivery_id = run_sql_file(self.con, RECORD_SQL, {
            "run": self.ctx.run_id, "source": source, "name": name or shown(path.name), "sha": sha,
            "size": st.st_size if regular else 0, "ddate": parsed.delivery_date if parsed else None,
            "seq": parsed.seq if parsed else None, "received": received, "decision": decision, "reason": reason,
            "stored": str(stored)}, step="discover: record").fetchall()[0][0]
        self.summary["files"] += 1
        self.summary[decision] += 1
        return delivery_id

    def refuse(self, r: Refusal, contract: Contract) -> None:
        """Record an entry that is not a delivery; quarantine it as it is, or leave it where it is."""
        rel = r.path.relative_to(self.cfg.landing) if r.path != self.cfg.landing else Path(".")
        parsed, _ = delivery_name(contract, r.path.name)
        source = parsed.source if parsed and rel.parent == Path(parsed.source) else None
        is_folder = r.action == "leave" and (r.st is None or not stat.S_ISREG(r.st.st_mode))
        name = shown(rel.as_posix()) + "/" if is_folder else shown(r.path.name)
        reason = f"{name}: refused: {r.why}"
        stored: Path | str = r.path
        if r.action == "quarantine":
            try:
                stored = quarantine_file(self.cfg, r.path, source, reason)
            except (OSError, LandingEntryError) as exc:
                reason += f" (it could not be moved into the quarantine folder: {getattr(exc, 'strerror', None) or exc})"
        self.record(r.path, r.st, "refused", reason, stored, parsed=parsed if source else None, source=source,
                    name=name)


def discover_deliveries(cfg: PlaceConfig, ctx: RunContext, settle_seconds: float = 2.0) -> dict:
    """Record every complete file under the landing zone as a delivery of this run.

    Unrecognised names (or files in the wrong folder) are refused and moved to
    `<quarantine>/_unrecognised/`; a file whose sha256 was already accepted is
    a `duplicate` and moved to `<quarantine>/<source>/`; entries that are not
    regular files of their own are refused (see the module docstring); the
    rest are `pending`. A file that changed while it was hashed (a sender
    that paused longer than the settle wait, then wrote on) is left in
    landing, counted `in_flight`, for the next run to take whole; one that
    appears after the listing is simply not seen until then.
    """
    contract = load_contract()
    found, refusals = look_at_landing(cfg.landing)
    files = _settled(found, settle_seconds)
    summary: dict = {"run_id": ctx.run_id, "files": 0, "pending": 0, "duplicate": 0, "refused": 0,
                     "in_flight": len(found) - len(files), "pending_ids": []}
    with connect(cfg) as con:
        rec = _Recorder(cfg, ctx, con, summary)
        for r in refusals:
            rec.refuse(r, contract)
        seen_this_run: dict[str, int] = {}
        for cand in files:
            path, st = cand.path, cand.st
            try:
                digest = sha256_file(path)
            except (FileNotFoundError, NotARegularFile):
                summary["in_flight"] += 1  # gone, or replaced by something else, since it was looked at
                continue
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    summary["in_flight"] += 1
                    continue
                rec.refuse(Refusal(path, st, _unreadable(exc), "leave"), contract)
                continue
            if _changed_since(path, st):  # the sender wrote more while it was read: not half a delivery
                summary["in_flight"] += 1
                continue
            rel = path.relative_to(cfg.landing)
            parsed, bad_name = delivery_name(contract, path.name)
            source = parsed.source if parsed else None
            decision, reason = "pending", None
            if parsed is None:
                decision, reason = "refused", f"{shown(path.name)}: {bad_name}"
            elif rel.parent != Path(source):
                decision = "refused"
                where = "the landing folder itself" if rel.parent == Path(".") else f"folder {shown(rel.parent.as_posix())}/"
                reason = (f"{path.name}: a {source} delivery found in {where}; "
                          f"{source} deliveries must be dropped into {source}/")
            else:
                earlier = run_sql_file(con, EARLIER_SQL, {"sha": digest, "run": ctx.run_id},
                                       step="discover: earlier delivery").fetchall()
                first_id = earlier[0][0] if earlier else seen_this_run.get(digest)
                if first_id is not None:
                    decision = "duplicate"
                    reason = f"duplicate of delivery {first_id}, nothing changed"
            stored: Path = path
            if decision == "refused":
                stored = quarantine_file(cfg, path, None, reason)
            elif decision == "duplicate":
                stored = quarantine_file(cfg, path, source, reason)
            delivery_id = rec.record(path, st, decision, reason, stored, parsed=parsed, source=source, sha=digest,
                                     name=shown(path.name))
            if decision == "pending":
                summary["pending_ids"].append(delivery_id)
                seen_this_run.setdefault(digest, delivery_id)
    return summary
