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


PDFTOTEXT = shutil.which("pdftotext")
PDFINFO = shutil.which("pdfinfo")


def test_the_report_prints_on_a4_landscape_with_reasons_readable(report, tmp_path):
    """Chromium prints the page as a person would; the PDF's pages are A4 landscape and a reason stays on one line."""
    if PDFTOTEXT is None or PDFINFO is None:
        pytest.skip("poppler-utils (pdftotext, pdfinfo) is not installed")
    page, s = report
    pdf = tmp_path / "report.pdf"
    done = chromium(tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", page.as_uri())
    assert done.returncode == 0 and pdf.is_file(), done.stderr[-2000:]
    info = subprocess.run([PDFINFO, str(pdf)], capture_output=True, text=True, check=True).stdout
    width, height = map(float, re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info).groups())
    assert (round(width), round(height)) == (842, 595), info  # A4, landscape
    text = subprocess.run([PDFTOTEXT, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    # a reason of 28 characters on one line: in a column ten characters wide it broke over three
    assert re.search(r"3 A&E attendances in 90 days", text), text[:3000]
    assert "decides nothing" in text
    pages = re.search(r"Pages:\s+(\d+)", info).group(1)
    print(f"\nprinted team report: {pdf} ({pages} pages)")


MEASURE = """<script>
const out = [];
for (const svg of document.querySelectorAll("svg.timeline")) {
  const width = svg.viewBox.baseVal.width;
  for (const t of svg.querySelectorAll("text")) {
    const b = t.getBBox();
    if (b.x < -0.5 || b.x + b.width > width + 0.5) out.push(t.textContent + " at " + b.x.toFixed(1) + "+" + b.width.toFixed(1));
  }
  const labels = [...svg.querySelectorAll("text")].filter(t => Number(t.getAttribute("y")) > 60).map(t => t.getBBox());
  labels.sort((a, b) => a.x - b.x);
  for (let i = 1; i < labels.length; i++) if (labels[i].x < labels[i - 1].x + labels[i - 1].width) out.push("overlap");
  const size = parseFloat(getComputedStyle(svg.querySelector("text")).fontSize);
  if (size < 11) out.push("font " + size);
}
document.body.setAttribute("data-clipped", out.length ? out.join("|") : "none");
</script>"""


def test_timeline_labels_are_whole_and_large_enough_in_chromium(report, tmp_path):
    page, _ = report
    measured = tmp_path / "measure.html"
    measured.write_text(page.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    done = chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", measured.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'data-clipped="none"' in done.stdout, re.search(r'data-clipped="([^"]*)"', done.stdout)


def test_month_names_fit_whatever_the_date_in_chromium(tmp_path):
    """The last month's name near the right edge (the clipped "D" of a December three days old), January, May."""
    from datetime import date

    from stratify.publish.team_page import TEMPLATES, Weeks, _environment, timeline

    macro = _environment().get_template("_timeline.html.j2").module.timeline
    days = [date(2026, 12, 3), date(2026, 11, 20), date(2026, 11, 21), date(2027, 1, 31), date(2026, 6, 2),
            date(2026, 5, 28), date(2026, 8, 1)]
    svgs = "".join(str(macro(timeline(Weeks([], [], []), d))) for d in days)
    css = (TEMPLATES / "team_report.css").read_text(encoding="utf-8")
    page = tmp_path / "months.html"
    page.write_text(f"<!DOCTYPE html><html><head><style>{css}</style></head><body>{svgs}{MEASURE}</body></html>",
                    encoding="utf-8")
    done = chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'data-clipped="none"' in done.stdout, re.search(r'data-clipped="([^"]*)"', done.stdout)
    assert done.stdout.count('<svg class="timeline"') == len(days) and ">Jan<" in done.stdout


SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


def test_libreoffice_prints_each_workbook_sheet_on_one_landscape_page(report, tmp_path):
    """LibreOffice (Debian's libreoffice-calc) prints the team's workbook as a person would: a page per short sheet.

    Before page set-up it printed 37 portrait pages for one list, a column or two each.
    """
    if SOFFICE is None or PDFINFO is None:
        pytest.skip("libreoffice-calc or poppler-utils is not installed")
    import openpyxl

    page, s = report
    book = page.parent / "NT01.xlsx"
    done = subprocess.run([SOFFICE, "--headless", f"-env:UserInstallation={(tmp_path / 'lo').as_uri()}",
                           "--convert-to", "pdf", "--outdir", str(tmp_path), str(book)],
                          capture_output=True, text=True, timeout=240, check=False)
    pdf = tmp_path / "NT01.pdf"
    assert done.returncode == 0 and pdf.is_file(), done.stderr[-2000:]
    info = subprocess.run([PDFINFO, str(pdf)], capture_output=True, text=True, check=True).stdout
    width, height = map(float, re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info).groups())
    assert (round(width), round(height)) == (842, 595), info
    sheets = len(openpyxl.load_workbook(book).sheetnames)
    assert int(re.search(r"Pages:\s+(\d+)", info).group(1)) == sheets  # each sheet one page wide, and short
