"""What lies in the landing zone: a bounded look that never follows a link and never opens anything.

Agencies (or a `pull`) drop deliveries into `<landing>/<source>/`. Anyone who
can write there can also leave a symbolic link to a file outside it, a hard
link to someone else's file, a FIFO, a device or a folder nested a thousand
levels deep. `look_at_landing` examines every entry with `lstat` (through
descriptors of the folders it walks, opened with `O_NOFOLLOW`, so no folder
is swapped for a link behind its back) and sorts them:

- `Candidate`: a regular file with one name, not hidden and not an
  unfinished `.part`/`.tmp` or a `.done` marker: a delivery to record;
- `Refusal`: anything else worth telling, with its reason and what happens
  to it (`quarantine`: the entry itself is moved, never opened or chmodded;
  `leave`: it stays where it is, reported every night until it is fixed).

The walk is bounded: at most `MAX_DEPTH` folder levels below the landing
zone (deliveries live one level down) and `MAX_ENTRIES` entries, so neither a
deep tree nor a huge folder can stop the night. Nothing here blocks: a FIFO
is only ever `lstat`ed.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

SKIP_SUFFIXES = (".part", ".tmp", ".done")
MAX_DEPTH = 8  # folder levels searched below the landing zone (<landing>/<source>/<file> is 1)
MAX_ENTRIES = 200_000
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Candidate:
    """A regular file with one name: a delivery to hash and record."""

    path: Path
    st: os.stat_result  # from lstat


@dataclass(frozen=True)
class Refusal:
    """An entry that is not a delivery: why, and whether it is quarantined or left where it is."""

    path: Path
    st: os.stat_result | None
    why: str
    action: str  # "quarantine" | "leave"


def shown(name: str) -> str:
    """A name as it may be printed: control characters (a newline, a tab) written out as escapes."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in name)


def kind_of(st: os.stat_result) -> str:
    """What a non-regular entry is, in words."""
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def entry_problem(st: os.stat_result) -> str | None:
    """Why an entry seen by `lstat` may not be read as a delivery, or None for a regular file with one name."""
    if stat.S_ISREG(st.st_mode):
        if st.st_nlink != 1:
            return (f"a hard link ({st.st_nlink} names for one file, so the file may belong elsewhere): "
                    "it is not opened, read or changed; deliver a file of its own (a copy, not a link)")
        return None
    return (f"{kind_of(st)}, not a regular file: it is not followed, opened or changed; "
            "deliver the file itself into the source's folder")


def look_at_landing(landing: Path, max_depth: int = MAX_DEPTH,
                    max_entries: int = MAX_ENTRIES) -> tuple[list[Candidate], list[Refusal]]:
    """Every delivery candidate under `landing` and every entry refused, each list sorted by path."""
    landing = Path(landing)
    candidates: list[Candidate] = []
    refusals: list[Refusal] = []
    try:
        root = os.open(landing, DIR_FLAGS & ~os.O_NOFOLLOW)  # the configured folder itself may be a link (a mount)
    except FileNotFoundError:
        return candidates, refusals
    except OSError as exc:
        refusals.append(Refusal(landing, None, f"the landing folder cannot be searched ({exc.strerror})", "leave"))
        return candidates, refusals
    seen = 0
    stack: list[tuple[str, ...]] = [()]  # folders to search, as parts below the landing zone
    try:
        while stack:
            parts = stack.pop()
            folder = landing.joinpath(*parts)
            try:
                fd = _open_folder(root, parts)
                with os.scandir(fd) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                refusals.append(Refusal(folder, None, f"the folder cannot be searched ({exc.strerror}): make it "
                                        "readable by the user that runs stratify, and a real folder", "leave"))
                continue
            subfolders: list[tuple[str, ...]] = []
            try:
                for e in entries:
                    if e.name.startswith("."):
                        continue
                    seen += 1
                    if seen > max_entries:
                        refusals.append(Refusal(folder, None, f"more than {max_entries} entries in the landing zone: "
                                                "the rest were not searched tonight; clear out what is not a "
                                                "delivery", "leave"))
                        stack.clear()
                        break
                    path = folder / e.name
                    try:
                        st = os.lstat(e.name, dir_fd=fd)
                    except FileNotFoundError:
                        continue  # gone since the listing
                    if stat.S_ISDIR(st.st_mode):
                        if len(parts) + 1 > max_depth:
                            refusals.append(Refusal(path, st, f"a folder more than {max_depth} levels below the "
                                                    "landing zone: not searched; deliveries go straight into "
                                                    "<landing>/<source>/", "leave"))
                        else:
                            subfolders.append((*parts, e.name))
                        continue
                    if stat.S_ISLNK(st.st_mode) and _points_at_folder(e.name, fd):
                        refusals.append(Refusal(path, st, "a symbolic link to a folder: not followed, so nothing in "
                                                "it is taken; replace it with a real folder", "leave"))
                        continue
                    if stat.S_ISREG(st.st_mode) and e.name.lower().endswith(SKIP_SUFFIXES):
                        continue  # an unfinished copy or a marker, taken with its file
                    problem = entry_problem(st)
                    if problem is None:
                        candidates.append(Candidate(path, st))
                    else:
                        refusals.append(Refusal(path, st, problem, "quarantine"))
            finally:
                if fd != root:
                    os.close(fd)
            stack.extend(reversed(subfolders))
    finally:
        os.close(root)
    return sorted(candidates, key=lambda c: str(c.path)), sorted(refusals, key=lambda r: str(r.path))


def _open_folder(root: int, parts: tuple[str, ...]) -> int:
    """A descriptor for the folder `parts` below `root`, each step opened without following a link."""
    fd = root
    for name in parts:
        try:
            nxt = os.open(name, DIR_FLAGS, dir_fd=fd)
        finally:
            if fd != root:
                os.close(fd)
        fd = nxt
    return fd


def _points_at_folder(name: str, dir_fd: int) -> bool:
    """Whether a symbolic link resolves to a folder (`stat` follows it without opening anything)."""
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False
