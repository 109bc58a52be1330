"""Small file helpers shared by the stages that move and publish files."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

CHUNK = 1 << 20
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class NotARegularFile(OSError):
    """A path that should be a file of its own is a link, a FIFO, a device, a folder or has other names."""


def open_regular(path: Path, expect: os.stat_result | None = None) -> int:
    """A read-only descriptor for `path` if it is a regular file with one name, never through a link.

    `O_NOFOLLOW` refuses a symbolic link and `O_NONBLOCK` keeps a FIFO from
    waiting for a writer; the descriptor is then checked to be a regular
    file with one link (and, given `expect` from an earlier `lstat`, the
    same file). Raises `NotARegularFile`, or the `OSError` of the open (a
    file the process may not read raises `PermissionError`).
    """
    fd = os.open(path, READ_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            raise NotARegularFile(f"{path} is not a regular file with one name")
        if expect is not None and (st.st_dev, st.st_ino) != (expect.st_dev, expect.st_ino):
            raise NotARegularFile(f"{path} was replaced since it was looked at")
    except BaseException:
        os.close(fd)
        raise
    return fd


def sha256_file(path: Path, follow_links: bool = True) -> str:
    """The file's sha256, read in 1 MiB chunks (deliveries can be gigabytes).

    Only a regular file is read: a FIFO or a device raises `NotARegularFile`
    at once instead of waiting for a writer. With `follow_links=False` a
    symbolic link or a file with other names is refused too (`open_regular`).
    """
    if follow_links:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise NotARegularFile(f"{path} is not a regular file")
    else:
        fd = open_regular(path)
    return sha256_fd(fd)


def sha256_fd(fd: int) -> str:
    """The sha256 of what is left to read from an open descriptor, which is closed afterwards."""
    h = hashlib.sha256()
    with os.fdopen(fd, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new entry in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_synced(path: Path, data: bytes, mode: int = 0o640) -> None:
    """Write `data` to a new (or truncated) file set to `mode` and fsync it, so a crash never leaves it half written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
