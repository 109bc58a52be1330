"""Owner/group-only modes for everything stratify writes, whatever the caller's umask.

Published runs, the warehouse and its write-ahead log, models, quarantined
files with their reasons and archived deliveries hold pseudonymised personal
data or facts about it: files are 0o640 and folders 0o750. The umask can only
take permissions away, so a mode given to `open` or `mkdir` is not enough under
`umask 077` (too strict for the team's group) and nothing at all under
`umask 000` for files a library creates: every mode here is set explicitly,
by descriptor on the file the pipeline itself opened, never through a
symbolic link and never on a file with more than one name.

- `tighten_umask` makes the process create nothing writable by its group or
  readable by others (DuckDB's `.wal`, GX's pages, joblib's files), once;
- `make_private_dir` creates folders 0o750 (each missing parent too);
- `write_private_text` / `open_private` create files 0o640 (0o600 when asked);
- `restrict` / `restrict_tree` set one path / a tree, not following links;
- `restrict_place` is the last pass of a night over the pipeline's own
  folders and files (out, models, archive, quarantine, the warehouse).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stratify.config import PlaceConfig

FILE_MODE = 0o640
DIR_MODE = 0o750
OWNER_ONLY_MODE = 0o600  # exports and re-identification outputs (README: "owner-only (0600)")
PRIVATE_UMASK = 0o027  # 0o666 -> 0o640 for files, 0o777 -> 0o750 for folders
NOFOLLOW = os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)

log = logging.getLogger(__name__)
_umask_lock = threading.Lock()
_umask_holders = 0
_umask_before = 0


def tighten_umask() -> int:
    """Add 0o027 to the process umask (never loosen it); the umask before.

    For files that libraries create on their own (DuckDB's write-ahead log
    and spill files, GX's Data Docs, joblib): they can then never be
    group-writable or visible to others, even before `restrict` sets them.
    """
    with _umask_lock:
        old = os.umask(0)
        os.umask(old | PRIVATE_UMASK)
        return old


@contextmanager
def private_umask() -> Iterator[None]:
    """Create files 0o640 and folders 0o750 (at most) inside the block; nested and threaded blocks are counted.

    The umask is process-wide: the one before the first block comes back only
    when the last block ends.
    """
    global _umask_holders, _umask_before
    with _umask_lock:
        if _umask_holders == 0:
            _umask_before = os.umask(PRIVATE_UMASK)
        _umask_holders += 1
    try:
        yield
    finally:
        with _umask_lock:
            _umask_holders -= 1
            if _umask_holders == 0:
                os.umask(_umask_before)


def _wanted(st: os.stat_result) -> int | None:
    """The mode a pipeline path should have, or None to leave it alone (links, special files, hard links)."""
    if stat.S_ISDIR(st.st_mode):
        return DIR_MODE
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        return None  # a hard-linked file's other name may be anyone's: never change it
    if stat.S_IMODE(st.st_mode) & 0o077 == 0:
        return OWNER_ONLY_MODE  # owner-only stays owner-only
    return FILE_MODE


def restrict(path: Path) -> None:
    """Set one file to 0o640 (0o600 if it is owner-only) or one folder to 0o750.

    The path is opened without following a symbolic link and the mode is set
    on that descriptor; symbolic links, FIFOs, devices and files with more
    than one name are left alone (a hard link's other name may be outside
    the pipeline's folders).
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    mode = _wanted(st)
    if mode is None or stat.S_IMODE(st.st_mode) == mode:
        return
    flags = os.O_RDONLY | NOFOLLOW | (os.O_DIRECTORY if stat.S_ISDIR(st.st_mode) else 0)
    try:
        fd = os.open(path, flags)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # it became a symbolic link since the look above
            return
        if not stat.S_ISDIR(st.st_mode) and exc.errno in (errno.EACCES, errno.EPERM):  # unreadable: by name, not a link (checked)
            os.chmod(path, mode)
            return
        raise
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino) and _wanted(now) == mode:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)


def restrict_tree(root: Path) -> None:
    """`restrict` a folder and everything under it, without following symbolic links."""
    root = Path(root)
    if not root.is_dir() or root.is_symlink():
        return
    restrict(root)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            restrict(Path(folder) / name)


def make_private_dir(path: Path, mode: int = DIR_MODE) -> Path:
    """Create a folder and each missing parent as `mode` (0o750); an existing folder is set to it.

    Parents that already existed keep their modes (they may be anyone's, e.g. /srv).
    """
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, mode)
        except FileExistsError:
            pass
        if folder != path:
            _set_dir_mode(folder, mode)
    _set_dir_mode(path, mode)
    return path


def _set_dir_mode(folder: Path, mode: int) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a configured folder that is a link (another disk): its target is left as set up
            return
        raise
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != mode:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)


def open_private(path: Path, mode: int = FILE_MODE, exclusive: bool = False) -> int:
    """A descriptor for writing a new (or truncated) file set to `mode`, never through a symbolic link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    flags |= os.O_EXCL if exclusive else os.O_TRUNC
    fd = os.open(path, flags, mode)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            raise PermissionError(f"{path} is not a file of its own (a special file or a hard link): not written")
        os.fchmod(fd, mode)  # the umask took bits away, or an existing file kept its old mode
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_private_text(path: Path, text: str, mode: int = FILE_MODE) -> Path:
    """Write a UTF-8 text file that is `mode` (0o640) from the moment it exists (replacing any file there)."""
    path = Path(path)
    fd = open_private(path, mode)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return path


def restrict_place(cfg: PlaceConfig) -> None:
    """The last pass of a night: every folder and file of the pipeline's own folders gets its mode.

    `out`, `models`, the archive and the quarantine are the pipeline's; the
    warehouse file, its `.wal` and DuckDB's temporary folder are, but not
    the folder the warehouse sits in (often the place's own folder). The
    landing zone is the senders'. Never raises: a path that cannot be set is
    logged, and the night's result stands.
    """
    wh = cfg.warehouse
    for root in (cfg.out, cfg.models, cfg.archive, cfg.quarantine, wh.parent / f".{wh.name}.tmp"):
        try:
            restrict_tree(Path(root).resolve())  # a configured folder may be a link to another disk
        except OSError as exc:
            log.warning("could not set the modes under %s: %s", root, exc)
    for path in (wh, wh.with_name(wh.name + ".wal")):
        try:
            restrict(path)
        except OSError as exc:
            log.warning("could not set the mode of %s: %s", path, exc)
