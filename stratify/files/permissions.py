"""Owner/group-only modes for everything stratify writes for people to read.

Published runs (lists, manifest, validation summary, Data Docs), quarantined
files with their reasons and archived deliveries hold pseudonymised personal
data or facts about it: files are 0o640 and folders 0o750, set when they are
created, so a file is never readable by others even for a moment.

`private_umask` makes that so for code that creates many files (pandas, GX);
`write_private_text` and `restrict` serve single files; `restrict_tree` is the
last pass over a run folder before it is published, for files another stage
wrote under the process's own umask.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FILE_MODE = 0o640
DIR_MODE = 0o750
PRIVATE_UMASK = 0o027  # 0o666 -> 0o640 for files, 0o777 -> 0o750 for folders


@contextmanager
def private_umask() -> Iterator[None]:
    """Create files 0o640 and folders 0o750 inside the block (the umask is process-wide: keep blocks short)."""
    old = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(old)


def restrict(path: Path) -> None:
    """Set one file to 0o640 or one folder to 0o750 (symbolic links are left alone)."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return
    os.chmod(path, DIR_MODE if stat.S_ISDIR(st.st_mode) else FILE_MODE)


def restrict_tree(root: Path) -> None:
    """`restrict` a folder and everything under it, without following symbolic links."""
    root = Path(root)
    restrict(root)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            restrict(Path(folder) / name)


def make_private_dir(path: Path) -> Path:
    """Create a folder (and missing parents) as 0o750; an existing folder is set to 0o750."""
    path = Path(path)
    with private_umask():
        path.mkdir(parents=True, exist_ok=True)
    restrict(path)
    return path


def write_private_text(path: Path, text: str) -> Path:
    """Write a UTF-8 text file that is 0o640 from the moment it exists (replacing any file there)."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an existing file keeps its old mode through O_CREAT
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fd = -1
            fh.write(text)
    finally:
        if fd != -1:
            os.close(fd)
    return path
