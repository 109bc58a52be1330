"""Moving deliveries out of the landing zone: quarantine (refused, held) and archive (loaded).

A delivery moved here is a regular file with one name, checked by `lstat`
and again on the descriptor it is opened with (`O_NOFOLLOW`): a symbolic
link, a hard link, a FIFO or a device never reaches the archive, and no mode
is ever set through one. The file is renamed whole (or, across file systems,
copied whole from that descriptor into a new file the pipeline creates,
then removed from landing); its mode is then set on the descriptor of the
file now in the archive or quarantine, so a file swapped in meanwhile is
never the one changed. A file owned by another user, whose mode the
pipeline may not change, is replaced by the pipeline's own copy.

An entry that is not a delivery at all (a link, a FIFO, a device, a hard
link) is quarantined as it is, by renaming the entry itself: never opened,
followed or chmodded (`quarantine_entry`).
"""

from __future__ import annotations

import errno
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from stratify.config import PlaceConfig
from stratify.files.durable import CHUNK, NotARegularFile, fsync_dir, open_regular, sha256_file
from stratify.files.permissions import FILE_MODE, make_private_dir, open_private, write_private_text
from stratify.ingest.landing import entry_problem, shown

UNRECOGNISED = "_unrecognised"
REASON_SUFFIX = ".reason.txt"


class LandingEntryError(ValueError):
    """A file to be moved is not a regular file with one name (or was replaced while it was moved)."""

    def __init__(self, path: Path, reason: str):
        self.file = shown(Path(path).name)
        self.reason = reason
        super().__init__(f"{self.file}: {reason}")


def _free_name(target: Path) -> Path:
    """`target`, or `target` with a numeric suffix before the extension if it is taken."""
    if not os.path.lexists(target):
        return target
    stem, suffix = target.name.split(".", 1) if "." in target.name else (target.name, "")
    for i in range(2, 10_000):
        cand = target.with_name(f"{stem}.{i}.{suffix}" if suffix else f"{stem}.{i}")
        if not os.path.lexists(cand) and not os.path.lexists(cand.with_name(cand.name + REASON_SUFFIX)):
            return cand
    raise FileExistsError(f"no free name for {target}")


def _drop_marker(path: Path) -> None:
    marker = path.with_name(path.name + ".done")
    try:
        if stat.S_ISREG(os.lstat(marker).st_mode):
            marker.unlink()
    except FileNotFoundError:
        pass


def _copy_whole(src_fd: int, target: Path) -> None:
    """Copy what `src_fd` holds into a new file `target` (0o640, created here), fsync'ed."""
    out = open_private(target, FILE_MODE, exclusive=True)
    try:
        os.lseek(src_fd, 0, os.SEEK_SET)
        while chunk := os.read(src_fd, CHUNK):
            view = memoryview(chunk)
            while view:
                view = view[os.write(out, view):]
        os.fsync(out)
    finally:
        os.close(out)


def move_file(path: Path, target: Path) -> Path:
    """Move one regular file with one name from landing to `target` (a free name), whole, and set it 0o640."""
    path, target = Path(path), Path(target)
    st = os.lstat(path)
    problem = entry_problem(st)
    if problem:
        raise LandingEntryError(path, problem)
    make_private_dir(target.parent)
    src = open_regular(path, expect=st)
    try:
        try:
            os.rename(path, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            _copy_whole(src, target)  # another file system: a copy the pipeline writes, from the checked file
            now = os.lstat(path)
            if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                path.unlink()
        else:
            moved = os.lstat(target)
            if (moved.st_dev, moved.st_ino) != (st.st_dev, st.st_ino):  # swapped between the check and the rename
                if not os.path.lexists(path):
                    os.rename(target, path)
                    raise LandingEntryError(path, "replaced while it was being moved; left in landing for the next run")
                raise LandingEntryError(path, f"replaced while it was being moved; what replaced it is in {target}")
            try:
                os.fchmod(src, FILE_MODE)  # by descriptor: the file just moved, not whatever the name holds now
            except PermissionError:  # another user's file: the pipeline's own copy takes its place
                copy = target.with_name(f".{target.name}.copy")
                _copy_whole(src, copy)
                os.replace(copy, target)
        fsync_dir(target.parent)
    finally:
        os.close(src)
    _drop_marker(path)
    return target


def quarantine_entry(path: Path, target: Path) -> Path | None:
    """Move an entry that is not a delivery (a link, a FIFO, a device, a hard link) into quarantine as it is.

    Only the name moves (`rename` never follows a link nor opens the entry);
    None if it cannot be moved (another file system), and it is left in place.
    """
    make_private_dir(target.parent)
    try:
        os.rename(path, target)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            return None
        raise
    return target


def quarantine_file(cfg: PlaceConfig, path: Path, source_name: str | None, reason: str) -> Path:
    """Move a refused or held file to `<quarantine>/<source>/` beside `<file>.reason.txt`.

    A regular file with one name is moved whole and set 0o640; anything else
    is moved as the entry it is (`quarantine_entry`). Raises if it cannot be moved.
    """
    path = Path(path)
    folder = cfg.quarantine / (source_name or UNRECOGNISED)
    target = _free_name(folder / path.name)
    st = os.lstat(path)
    if entry_problem(st) is None:
        stored = move_file(path, target)
    else:
        stored = quarantine_entry(path, target)
        if stored is None:
            raise LandingEntryError(path, "cannot be moved into the quarantine folder (another file system)")
    write_private_text(
        stored.with_name(stored.name + REASON_SUFFIX),
        f"{shown(path.name)}\n{reason.rstrip()}\n"
        f"quarantined {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}; correct the file and deliver it again "
        "under a new name (a later date or sequence number).\n",
    )
    return stored


def _same_content(a: Path, b: Path) -> bool:
    try:
        return (os.lstat(a).st_size == os.lstat(b).st_size
                and sha256_file(a, follow_links=False) == sha256_file(b, follow_links=False))
    except NotARegularFile:
        return False


def archive_file(cfg: PlaceConfig, path: Path, source_name: str, delivery_date=None) -> Path:
    """Move a loaded file, unchanged, to `<archive>/<source>/<file>`.

    An archived file is never overwritten: the same content already there is
    kept (the landing copy is removed); different content gets a suffix.
    Only a regular file with one name is archived (`LandingEntryError` otherwise).
    `delivery_date` is accepted for the stage interface; the file name carries it.
    """
    path = Path(path)
    problem = entry_problem(os.lstat(path))
    if problem:
        raise LandingEntryError(path, problem)
    target = cfg.archive / source_name / path.name
    if os.path.lexists(target):
        if _same_content(path, target):
            path.unlink()
            _drop_marker(path)
            return target
        target = _free_name(target)
    return move_file(path, target)
