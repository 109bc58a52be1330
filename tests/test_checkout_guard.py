"""The end-of-session check sees a file a test wrote into the checkout (tests/checkout_guard.py)."""

from __future__ import annotations

import os
import subprocess

from checkout_guard import checkout_differences, checkout_state


def test_a_new_or_rewritten_file_in_a_watched_folder_is_named(tmp_path):
    status = tmp_path / "data" / "demo" / "out" / "status.json"
    status.parent.mkdir(parents=True)
    status.write_text('{"status": "published"}', encoding="utf-8")
    before = checkout_state(tmp_path)
    assert checkout_differences(before, checkout_state(tmp_path)) == []
    status.write_text('{"status": "failed"}', encoding="utf-8")
    os.utime(status, ns=(1, 1))
    (tmp_path / "bench" / "results").mkdir(parents=True)
    (tmp_path / "bench" / "results" / "5000.json").write_text("{}", encoding="utf-8")
    assert checkout_differences(before, checkout_state(tmp_path)) == [
        "changed: data/demo/out/status.json", "new: bench/results/5000.json"]


def test_a_tracked_file_changed_or_an_untracked_one_added_is_named(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "README.md").write_text("one\n", encoding="utf-8")
    subprocess.run(["git", "-C", str(tmp_path), "add", "README.md"], check=True)
    before = checkout_state(tmp_path)
    (tmp_path / "README.md").write_text("two\n", encoding="utf-8")
    (tmp_path / "stray.txt").write_text("x", encoding="utf-8")
    assert checkout_differences(before, checkout_state(tmp_path)) == ["changed: README.md", "new: stray.txt"]
