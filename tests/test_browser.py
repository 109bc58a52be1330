"""A real browser opens a team's report: headless Chromium renders the ranked households and the timelines.

`.ci/run` installs Debian's `chromium` when it is missing. The screenshot is
kept in the test's temporary folder (its path is printed) for a person to look at.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from test_team_report import sample_folder

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it with apt-get)")


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("browser")
    s = sample_folder(tmp)
    return s["root"] / "teams" / "NT01" / "report.html", s


def test_chromium_renders_the_ranked_households_and_the_timeline(report, tmp_path):
    page, s = report
    done = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    listed = s["teams"]["NT01"].listed
    bodies = re.findall(r'<tbody class="household (?:crisis|wobbling)" id="household-(\d+)">', dom)
    assert [int(b) for b in bodies] == sorted(listed["household_rank"].unique())
    for person in listed["person_id"]:
        assert person in dom
    assert dom.count('<svg class="timeline"') >= len(listed)
    assert re.search(r'<rect class="mark" [^>]*fill="#0072b2"', dom)  # a health contact drawn on the timeline
    assert "Household 1" in dom and "Already working with" in dom and "Dropped off since the last list" in dom


def test_chromium_takes_a_screenshot_of_the_report(report, tmp_path):
    page, _ = report
    shot = tmp_path / "report.png"
    done = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    print(f"\nscreenshot of the team report: {shot}")
