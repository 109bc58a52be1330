"""Proof that the tests leave the checkout as they found it (used by tests/conftest.py).

The session records the checkout when it starts and compares when it ends:
what `git status` lists (each listed file with a digest of its content) and
every file under the folders the product writes into when run from the
checkout, which are gitignored.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

# Where the product writes when run from the checkout; gitignored, so `git status` does not list them.
WATCHED = ("data", "airflow_home", "bench/results")


def _git_changes(root: Path) -> dict[str, str]:
    """Each path `git status` lists (modified, added, untracked), with a digest of its content."""
    try:
        out = subprocess.run(["git", "-C", str(root), "status", "--porcelain=v1", "-z", "--untracked-files=all"],
                             capture_output=True, check=True, timeout=60).stdout.decode()
    except (OSError, subprocess.SubprocessError):
        return {}  # not a git checkout (e.g. an unpacked sdist): the watched folders still count
    changes = {}
    for entry in filter(None, out.split("\0")):
        path = root / entry[3:]
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "-"
        changes[entry[3:]] = f"{entry[:2]} {digest}"
    return changes


def _watched_files(root: Path) -> dict[str, tuple[int, int]]:
    files = {}
    for name in WATCHED:
        for path in (root / name).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                st = path.stat()
                files[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return files


def checkout_state(root: Path) -> dict[str, dict]:
    """What `git status` lists, with contents, and every file under the watched folders (size, mtime)."""
    return {"git": _git_changes(root), "files": _watched_files(root)}


def checkout_differences(before: dict, after: dict) -> list[str]:
    """What changed between two `checkout_state`s, one line per file."""
    lines = []
    for kind in ("git", "files"):
        old, new = before[kind], after[kind]
        lines += [f"new: {k}" for k in sorted(new.keys() - old.keys())]
        lines += [f"removed: {k}" for k in sorted(old.keys() - new.keys())]
        lines += [f"changed: {k}" for k in sorted(old.keys() & new.keys()) if old[k] != new[k]]
    return sorted(set(lines))
