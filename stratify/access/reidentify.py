"""The only ways out of the pipeline to a person: re-identifying a list, exporting a list. Both audited.

Lists hold pseudonyms only. A neighbourhood team that must contact people
asks the data controller, who holds the lookup (pseudonym -> identifying
columns, e.g. NHS number and name) and runs `stratify reidentify`: it takes a
list, the lookup, the user's name and a reason, and writes the lookup's rows
for the people on the list, and nothing else, to a path the user names.
`stratify export-list` copies a team's published list out the same way.

Both read only what stratify published: `latest` is resolved and must be a
run folder in `<out>/runs/` recorded in `publications`
(`run.context.published_run`), an exported list's bytes must be the ones
recorded there, and the list given to `reidentify` must have the digest of a
published list (a lookup or any other CSV is refused).

For both: the request is refused before anything is read if the user or the
reason is missing or malformed (a user name is one printable line without
commas; a reason is at least three real words), if the target exists (never overwritten) or lies inside
the pipeline's own folders (published runs, landing, archive, quarantine,
models), so identifiable data never lands in the published tree. The
`access_log` row (who, when, why, what, how many) is written before the
output, so nothing leaves unlogged. The output is created owner-only (0o600).
Messages and return values carry counts and paths, never identities.
"""

from __future__ import annotations

import csv
import getpass
import hashlib
import io
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

from stratify.config import TEAM_RE, PlaceConfig
from stratify.errors import AccessRefused, NotPublished
from stratify.files.durable import sha256_file
from stratify.publish.about_list import TEXT_NAME
from stratify.run.audit import log_access
from stratify.run.context import published_run

__all__ = ["AccessRefused", "NotPublished", "check_request", "export_list", "reidentify"]

OUTPUT_MODE = 0o600
MIN_REASON_WORDS = 3
MAX_USER = 100
MAX_REASON = 300
PERSON_ID_RE = re.compile(r"^[0-9a-f]{64}$")
# A person's or account's name: starts with a letter; letters, digits, spaces and . ' _ @ - only
# (no commas, no line breaks, no invisible characters such as a zero-width space).
USER_RE = re.compile(r"[^\W\d_][\w .'@-]*")
WORD_RE = re.compile(r"[^\W\d_]{2,}")  # a real word has two letters or more in a row


def check_request(user: str, reason: str) -> tuple[str, str]:
    """The user's name and the reason, checked; refused unless both are real, printable and bounded.

    A reason needs at least three whitespace-separated words that each hold
    two letters in a row: `x.x.x` and `one-word-reason` are one word each.
    """
    user, reason = (user or "").strip(), (reason or "").strip()
    if not user:
        raise AccessRefused("--user is required: the name of the person asking, for the access log")
    if len(user) > MAX_USER or not user.isprintable() or not USER_RE.fullmatch(user) or "  " in user:
        raise AccessRefused(f"--user must be a name of at most {MAX_USER} characters: letters, digits, single "
                            "spaces and . ' _ @ - only, starting with a letter (no commas, line breaks or "
                            "invisible characters)")
    words = [w for w in reason.split() if WORD_RE.search(w)]
    if (len(reason) > MAX_REASON or not reason.isprintable() or len(words) < MIN_REASON_WORDS
            or len({w.lower() for w in words}) < 2):
        raise AccessRefused(f"--reason must say why, in at least {MIN_REASON_WORDS} words on one line of at most "
                            f"{MAX_REASON} printable characters (e.g. 'NT03 case conference 2026-11-24'), for the "
                            "access log")
    return user, " ".join(reason.split())


def protected_folders(cfg: PlaceConfig) -> dict[str, Path]:
    """The pipeline's own folders, where no re-identified or exported file may be written."""
    return {"out": cfg.out, "landing": cfg.landing, "archive": cfg.archive,
            "quarantine": cfg.quarantine, "models": cfg.models}


def check_output_path(cfg: PlaceConfig, path: str | Path) -> Path:
    """An absolute target path that does not exist yet, in an existing folder outside the pipeline's folders."""
    target = Path(path).expanduser()
    target = target.parent.resolve() / target.name
    for name, folder in protected_folders(cfg).items():
        if target.is_relative_to(folder.resolve()):
            raise AccessRefused(f"{target}: refusing to write inside the pipeline's {name} folder ({folder}); "
                                "name a path in your own, access-controlled folder")
    if target.exists() or target.is_symlink():
        raise AccessRefused(f"{target} already exists; it is never overwritten: name a new file")
    if not target.parent.is_dir():
        raise AccessRefused(f"{target.parent} does not exist; create it (owner-only) first")
    return target


def read_person_ids(path: Path) -> list[str]:
    """The `person_id` column of a CSV in file order, without repeats; a malformed row names its line, not its value."""
    ids: dict[str, None] = {}
    with _CsvFile(path) as (reader, _):
        for line, row in _rows(reader, path):
            pid = (row.get("person_id") or "").strip()
            if not PERSON_ID_RE.match(pid):
                raise AccessRefused(f"{path} line {line}: person_id is not a pseudonym (64 lower-case hex characters)")
            ids.setdefault(pid, None)
    return list(ids)


def read_lookup(path: Path, wanted: set[str]) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The lookup's columns and its rows for the `wanted` pseudonyms only; the rest is read past, never kept."""
    found: dict[str, dict[str, str]] = {}
    first_line: dict[str, int] = {}
    with _CsvFile(path) as (reader, columns):
        if len(columns) < 2:
            raise AccessRefused(f"{path}: a lookup needs person_id and at least one identifying column")
        for line, row in _rows(reader, path):
            pid = (row.get("person_id") or "").strip()
            if not PERSON_ID_RE.match(pid):
                raise AccessRefused(f"{path} line {line}: person_id is not a pseudonym (64 lower-case hex characters)")
            if pid in first_line:
                raise AccessRefused(f"{path} line {line}: this person_id is also on line {first_line[pid]}; "
                                    "a lookup maps each pseudonym to one person")
            first_line[pid] = line
            if pid in wanted:
                found[pid] = {c: row.get(c) or "" for c in columns}
    return columns, found


def reidentify(cfg: PlaceConfig, list_path: str | Path, lookup_path: str | Path, user: str, reason: str,
               to: str | Path) -> dict:
    """Write the lookup's rows for the people on a list to `to` (0o600), after logging the request.

    Returns counts and the output path only.
    """
    user, reason = check_request(user, reason)
    target = check_output_path(cfg, to)
    list_path, lookup_path = Path(list_path).resolve(), Path(lookup_path).resolve()
    run_id = published_list(cfg, list_path)
    people = read_person_ids(list_path)
    columns, found = read_lookup(lookup_path, set(people))
    rows = [found[p] for p in people if p in found]
    summary = {"people_on_list": len(people), "matched": len(rows), "not_matched": len(people) - len(rows),
               "output": str(target)}
    log_access(cfg, user, "reidentify", _target(list=str(list_path), run_id=run_id, lookup=str(lookup_path),
                                                output=str(target),
                                                matched=len(rows), not_matched=summary["not_matched"],
                                                os_user=_os_user()), reason, len(rows))
    _write_private_csv(target, columns, rows)
    return summary


def export_list(cfg: PlaceConfig, team: str, user: str, reason: str, to: str | Path) -> dict:
    """Copy a team's currently published list to `to` (0o600), after logging the export.

    The list's own words go with it: the run's `about_this_list.txt` for the
    team (what the list is and is not, what crisis, wobbling and a score mean,
    the model and how fresh each source is) is written beside the copy as
    `<name>.about_this_list.txt`, so a list out of the pipeline still says that
    it supports a professional's judgement and decides nothing.
    """
    user, reason = check_request(user, reason)
    if not TEAM_RE.match(team or ""):
        raise AccessRefused("--team must be a team code (letters, digits, _ or -)")
    target = check_output_path(cfg, to)
    about_target = check_output_path(cfg, target.with_name(f"{target.stem}.{TEXT_NAME}"))
    run = published_run(cfg)
    name = f"lists/{team}.csv"
    if name not in run.files:
        known = sorted(Path(p).stem for p in run.files if p.startswith("lists/") and p.endswith(".csv"))
        raise AccessRefused(f"no published list for team {team} in {run.folder / 'lists'}"
                            + (f"; teams with lists: {', '.join(known)}" if known else "; it published no lists"))
    source = run.folder / name
    data = _published_bytes(run, name)
    about_name = next((n for n in (f"teams/{team}/{TEXT_NAME}", f"lists/{TEXT_NAME}") if n in run.files), None)
    if about_name is None:
        raise NotPublished(f"run {run.run_id} published no {TEXT_NAME} for team {team}; a list is not exported "
                           "without the words that say what it is: publish a new run")
    about = _published_bytes(run, about_name)
    n_people = max(len(data.decode("utf-8-sig").splitlines()) - 1, 0)
    run_id = run.run_id
    log_access(cfg, user, "export_list", _target(team=team, run_id=run_id, source=str(source.resolve()),
                                                 output=str(target), about=str(about_target),
                                                 sha256=hashlib.sha256(data).hexdigest(),
                                                 os_user=_os_user()), reason, n_people)
    _write_private_bytes(target, data)
    _write_private_bytes(about_target, about)
    return {"team": team, "run_id": run_id, "people": n_people, "output": str(target), "about": str(about_target)}


def _published_bytes(run, name: str) -> bytes:
    """The bytes of the run's published file `name`, refused unless their sha256 is the one published."""
    source = run.folder / name
    data = _read_regular(source)
    if hashlib.sha256(data).hexdigest() != run.files[name]:
        raise NotPublished(f"{source} is not the file published in run {run.run_id}: its content changed since "
                           "(its sha256 differs from the publications table)")
    return data


def published_list(cfg: PlaceConfig, path: Path) -> str:
    """The run that published the list at `path` (its bytes' sha256 recorded in `publications`); else refused.

    The list may be the published file or an exported copy of it; a lookup,
    an edited list or any other CSV has no such digest.
    """
    from stratify.warehouse.connect import connect

    if not path.is_file():
        raise AccessRefused(f"{path} does not exist or is not a file")
    digest = sha256_file(path)
    with connect(cfg) as con:
        rows = con.execute("SELECT run_id FROM publications WHERE sha256 = $1 AND path LIKE 'lists/%.csv' "
                           "ORDER BY published_at DESC LIMIT 1", [digest]).fetchall()
    if not rows:
        raise NotPublished(f"{path} is not a list stratify published (its sha256 is not in the publications "
                           "table): --list takes a team's published list or an unchanged export of one")
    return rows[0][0]


def _read_regular(path: Path) -> bytes:
    """A published file's bytes, never through a symbolic link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise NotPublished(f"{path} cannot be read as a regular file ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


# --------------------------------------------------------------------------- helpers


class _CsvFile:
    """Open a UTF-8 CSV (BOM tolerated) with a header that has `person_id`; yields (reader, columns)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __enter__(self) -> tuple[csv.DictReader, list[str]]:
        if not self.path.is_file():
            raise AccessRefused(f"{self.path} does not exist or is not a file")
        self.fh = open(self.path, encoding="utf-8-sig", newline="")
        reader = csv.DictReader(self.fh)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        if "person_id" not in columns:
            self.fh.close()
            raise AccessRefused(f"{self.path}: the header has no person_id column")
        if len(set(columns)) != len(columns):
            self.fh.close()
            raise AccessRefused(f"{self.path}: the header repeats a column name")
        reader.fieldnames = columns
        return reader, columns

    def __exit__(self, *exc) -> None:
        self.fh.close()


def _rows(reader: csv.DictReader, path: Path) -> Iterable[tuple[int, dict[str, str]]]:
    try:
        for row in reader:
            if None in row:
                raise AccessRefused(f"{path} line {reader.line_num}: more fields than the header has columns")
            yield reader.line_num, row
    except (csv.Error, UnicodeDecodeError) as exc:
        raise AccessRefused(f"{path} near line {reader.line_num}: not a readable UTF-8 CSV "
                            f"({type(exc).__name__})") from None


def _target(**facts) -> str:
    """The access log's `target`: what was read and written, and how many, as JSON (no identities)."""
    return json.dumps(facts, sort_keys=True)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return f"uid {os.getuid()}"


def _write_private_csv(target: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _write_private_bytes(target, buf.getvalue().encode("utf-8"))


def _write_private_bytes(target: Path, data: bytes) -> None:
    """Create `target` owner-only and exclusively (never following a link, never overwriting); remove it on failure."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, OUTPUT_MODE)
    try:
        os.fchmod(fd, OUTPUT_MODE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        target.unlink(missing_ok=True)
        raise
    os.close(fd)
