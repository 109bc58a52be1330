"""What IG staff read after a night: suppression, validation.html, stale sources, offline Data Docs, file modes.

One small batch (a register, a good and a broken health delivery, a file with
an unrecognised name) is discovered and validated once per module; the
summary page and the Data Docs of that run are checked from it. A slow test
runs a whole synthetic place through the pipeline.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from dataclasses import replace
from datetime import UTC, date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import escape

from helpers import no_settle_pause
from stratify.config import SuppressionConfig
from stratify.ingest.discover import discover_deliveries
from stratify.ingest.storage import archive_file
from stratify.publish.stage import PublishHeld, publish_lists
from stratify.publish.suppression import Count, SuppressedCounts, suppress
from stratify.publish.validation_page import source_freshness
from stratify.run.context import RunContext, staging_dir
from stratify.validate import findings as F
from stratify.validate.data_docs import MARKER, external_references, make_offline
from stratify.validate.findings import Finding, delivery_reason, detail_text
from stratify.validate.stage import validate_deliveries
from stratify.warehouse.database import connect
from test_ingest import DDATE, health_rows, make_place, new_run, pid, register_rows, write_csv

EVIL = "<img src=x onerror=alert(1)>.csv"
HEX64 = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
configs = st.builds(SuppressionConfig, min_count=st.integers(1, 50), round_to=st.integers(1, 20))


def modes_under(*roots: Path) -> list[tuple[str, str]]:
    """(path, mode) of every file or folder under `roots` that others could read, write or enter."""
    bad = []
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in [*dirs, *files]:
                st_ = os.lstat(Path(folder) / name)
                if not stat.S_ISLNK(st_.st_mode) and stat.S_IMODE(st_.st_mode) & 0o007:
                    bad.append((str(Path(folder) / name), oct(stat.S_IMODE(st_.st_mode))))
    return bad


# --------------------------------------------------------------------------- suppression


@given(configs)
def test_zero_is_shown_as_zero(cfg):
    assert suppress(0, cfg) == "0"


@given(configs, st.data())
def test_small_counts_all_read_the_same(cfg, data):
    if cfg.min_count == 1:
        return
    n = data.draw(st.integers(1, cfg.min_count - 1))
    assert suppress(n, cfg) == f"<{cfg.min_count}"


@given(configs, st.integers(0, 10_000_000))
def test_larger_counts_are_rounded_never_below_the_threshold(cfg, n):
    if n < cfg.min_count:
        return
    shown = int(suppress(n, cfg))
    assert shown % cfg.round_to == 0
    assert shown >= cfg.min_count  # a shown number is never one only small counts could have
    lowest = cfg.round_to * -(-cfg.min_count // cfg.round_to)
    assert abs(shown - n) * 2 <= cfg.round_to or shown == lowest


@given(configs, st.integers(1, 10_000))
def test_no_exact_small_count_can_be_read_back(cfg, n):
    """Whatever is shown, the set of counts that show it never pins down one count below min_count."""
    shown = suppress(n, cfg)
    small_with_same_text = [m for m in range(1, cfg.min_count) if suppress(m, cfg) == shown]
    assert len(small_with_same_text) in (0, cfg.min_count - 1)
    if shown.isdigit():
        assert int(shown) >= cfg.min_count


def test_suppress_examples_and_errors():
    cfg = SuppressionConfig()
    assert [suppress(n, cfg) for n in (0, 1, 9, 10, 12, 13, 17, 18, 8205)] == \
        ["0", "<10", "<10", "10", "10", "15", "15", "20", "8205"]
    assert suppress(12, SuppressionConfig(min_count=12, round_to=5)) == "15"
    with pytest.raises(ValueError):
        suppress(-1, cfg)
    with pytest.raises(TypeError):
        suppress(True, cfg)
    with pytest.raises(ValueError):
        suppress(3, SuppressionConfig(min_count=10, round_to=0))


def test_findings_are_worded_with_suppressed_counts_from_their_fields():
    words = SuppressedCounts(SuppressionConfig())
    rows = Finding("health.event_type.codes", "event_type", "critical", False, "event_type is one of the health codes",
                   failure=F.ROWS, count=3, out_of=40, first_rows=(9, 10, 12))
    keys = Finding("stratify.key_mismatch", "person_id", "critical", False, "pseudonyms match", checked_by="stratify",
                   failure=F.KEY_MISMATCH, count=7, out_of=230, counted="pseudonyms", limit_share=0.5)
    nhs = Finding("stratify.data_minimisation", "x", "critical", False, "no identifiers", checked_by="stratify",
                  failure=F.NHS_NUMBERS, count=2, out_of=61319, first_rows=(4, 8))
    # rows of a delivery, failing or not, are facts about a file: exact, as in the Data Docs
    assert detail_text(rows, words) == "event_type is one of the health codes - failed in 3 of 40 rows (data rows 9, 10, 12)"
    assert detail_text(rows) == "event_type is one of the health codes - failed in 3 of 40 rows (data rows 9, 10, 12)"
    assert detail_text(keys, words) == "<10 of 230 distinct person_id pseudonyms match no registered person; limit 50%"
    assert "7 of 230 distinct person_id pseudonyms (3%)" in detail_text(keys)  # the warehouse keeps the exact words
    assert delivery_reason("h.csv", "refused", [nhs], words) == (
        "h.csv: refused: data minimisation: column x holds <10 valid NHS number(s) (first at data row 4). "
        "No extract may carry a direct identifier; the whole delivery is refused")
    assert delivery_reason("h.csv", "held", [keys], words).startswith("h.csv: held: key mismatch: <10 of 230 distinct")
    assert Count(61319, exact=True).shown(SuppressionConfig()) == "61,319"  # a delivery's rows: exact
    assert Count(61319).shown(SuppressionConfig()) == "61,320"  # anything else: suppressed


@settings(max_examples=60)
@given(st.integers(1, 9), st.integers(1, 9), st.lists(st.integers(1, 500), min_size=1, max_size=5, unique=True),
       st.sampled_from([F.NHS_NUMBERS, F.KEY_MISMATCH]))
def test_a_finding_on_a_page_never_shows_a_small_count_of_people(bad, total, rows, failure):
    f = Finding("c", "col", "critical", False, "rule", failure=failure, count=bad, out_of=total,
                counted="pseudonyms" if failure == F.KEY_MISMATCH else "rows", first_rows=tuple(rows), limit_share=0.1)
    out = delivery_reason("f.csv", "refused", [f], SuppressedCounts(SuppressionConfig()))
    assert f"{bad} of" not in out and f"holds {bad}" not in out and "%)" not in out
    if failure == F.KEY_MISMATCH:
        assert f"of {total} " not in out  # distinct pseudonyms are people: suppressed too
    if failure == F.NHS_NUMBERS:  # rows holding an NHS number are people: one row named, never the list
        assert out.count("data row") == 1 and ", " not in out.split("data row")[1].split(")")[0]


def test_the_page_module_edits_no_finished_sentence():
    """Counts reach the page from fields: no regular expression over reasons is left in the page's module."""
    import stratify.publish.validation_page as page

    assert not hasattr(page, "suppress_text")
    assert not [n for n in ("N_OF_M_RE", "PERCENT_RE", "HOLDS_RE", "ROW_LIST_RE") if hasattr(page, n)]


# --------------------------------------------------------------------------- one small night


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """A place after discover + validate: register ok, health ok, health broken, one unrecognised file."""
    cfg = make_place(tmp_path_factory.mktemp("report") / "place")
    write_csv(cfg.landing / "register" / f"register_{DDATE}.csv", register_rows())
    write_csv(cfg.landing / "health" / f"health_{DDATE}.csv", health_rows())
    broken = health_rows(12)
    broken[3]["event_type"] = "ae_attendence"   # not a health code
    broken[7]["event_date"] = "2027-01-05"      # after the delivery date
    write_csv(cfg.landing / "health" / f"health_{DDATE}_2.csv", broken)
    (cfg.landing / "health" / "notes.txt").write_text("not a delivery\n", encoding="utf-8")
    (cfg.landing / "health" / EVIL).write_text("x\n", encoding="utf-8")  # a name that is HTML
    for p in cfg.landing.rglob("*"):
        if p.is_file():
            p.chmod(0o644)  # as a supplier's upload might be
    ctx = new_run(cfg)
    discover_deliveries(cfg, ctx, settle_seconds=0)
    summary = validate_deliveries(cfg, ctx)
    with pytest.raises(PublishHeld) as held:  # the register was accepted but never loaded: the gate holds
        publish_lists(cfg, ctx)
    page_path = staging_dir(cfg, ctx) / "validation.html"
    return {"cfg": cfg, "ctx": ctx, "summary": summary, "held": str(held.value),
            "page_path": page_path, "page": page_path.read_text(encoding="utf-8")}


def test_held_run_keeps_its_summary_in_staging_and_says_where(night):
    assert night["page_path"].exists()
    assert str(night["page_path"]) in night["held"]
    assert night["page_path"].parent.name == f".staging-{night['ctx'].run_id}"
    assert "Held: nothing was published." in night["page"]
    assert "no person register has ever been loaded" in night["page"]


def test_summary_lists_every_delivery_with_decision_and_reason(night):
    page = night["page"]
    with connect(night["cfg"]) as con:
        rows = con.execute("SELECT file_name, decision FROM deliveries WHERE run_id = $1", [night["ctx"].run_id]).fetchall()
    assert len(rows) == 5
    for file_name, decision in rows:
        section = re.search(r'<section class="delivery"[^>]*>\s*<h3>' + re.escape(str(escape(file_name))) + r"(.*?)</section>",
                            page, re.S)
        assert section, file_name
        assert decision.replace("_", " ") in section.group(1)
    broken = re.search(r"<h3>health_%s_2\.csv(.*?)</section>" % DDATE, page, re.S).group(1)
    assert "refused" in broken and "Why:" in broken
    assert "health.event_type.codes" in broken and "health.event_date.date_range" in broken
    assert "event_type is one of the health codes" in broken
    assert "failed in 1 of 12 rows (data row 4)" in broken  # rows of a file: exact, as in its Data Docs
    unrecognised = re.search(r"<h3>notes\.txt(.*?)</section>", page, re.S).group(1)
    assert "refused" in unrecognised and "matches no source" in unrecognised


def test_summary_suppresses_counts_and_shows_no_pseudonym_or_value(night):
    page = night["page"]
    assert not HEX64.findall(page)
    assert "ae_attendence" not in page and "2027-01-05" not in page
    cell = re.search(r"<h3>register_%s\.csv.*?<dt>rows</dt><dd>([^<]*)</dd>" % DDATE, page, re.S).group(1)
    assert cell == "30"
    health = re.search(r"<h3>health_%s_2\.csv.*?<dt>rows</dt><dd>([^<]*)</dd>" % DDATE, page, re.S).group(1)
    assert health == "12"  # a delivery's own row count is exact, as in its Data Docs
    assert not re.search(r"\b[1-9] of [\d,]+ distinct", page) and "valid NHS number" not in page


def test_summary_is_self_contained_and_escaped(night):
    page = night["page"]
    assert external_references(page) == []
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert "<style>" in page and ".refused" in page
    assert str(escape(EVIL)) in page  # a file name is text, never markup


def test_summary_shows_freshness_per_source(night):
    page = night["page"]
    health_row = re.search(r"<td><strong>health</strong></td>(.*?)</tr>", page, re.S).group(1)
    assert "stale since 2026-11-20" in health_row
    police_row = re.search(r"<td><strong>police</strong></td>(.*?)</tr>", page, re.S).group(1)
    assert "stale: no accepted delivery yet" in police_row


def test_staging_and_quarantine_are_owner_group_only(night):
    cfg, ctx = night["cfg"], night["ctx"]
    assert stat.S_IMODE(night["page_path"].stat().st_mode) == 0o640
    assert modes_under(staging_dir(cfg, ctx), cfg.quarantine) == []
    reason = next(cfg.quarantine.rglob("*.reason.txt"))
    assert stat.S_IMODE(reason.stat().st_mode) == 0o640


def test_archive_copies_are_owner_group_only(tmp_path):
    cfg = make_place(tmp_path / "place")
    f = write_csv(cfg.landing / "health" / f"health_{DDATE}.csv", health_rows())
    f.chmod(0o666)
    target = archive_file(cfg, f, "health")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o750


# --------------------------------------------------------------------------- Data Docs offline


def test_data_docs_render_offline_and_styled(night):
    docs = staging_dir(night["cfg"], night["ctx"]) / "validation" / "data_docs"
    pages = sorted(docs.rglob("*.html"))
    assert len(pages) >= 4  # index, suites, one page per validated delivery
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert external_references(text) == [], page
        assert not re.search(r"""<(?:script|link|img)\b[^>]*(?:src|href)\s*=\s*["']?(?:https?:)?//""", text, re.I), page
        assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", text), page
        head = text.split("</head>")[0]
        assert MARKER in head and ".card-header" in head and ".table th" in head  # our inline stylesheet
        assert ".fa-check-circle::before" in head  # icons without the font
    index = (docs / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'<a href="(validations/[^"]+\.html)">', index)
    assert len(links) == len(night["summary"]["deliveries"]) - sum(
        1 for d in night["summary"]["deliveries"] if d["rows"] is None)
    assert all((docs / link).exists() for link in links)
    assert "<tbody><tr>" in index  # the script-filled table is now static
    assert modes_under(docs) == []


def test_summary_links_each_validated_delivery_to_its_data_docs_page(night):
    page, folder = night["page"], night["page_path"].parent
    links = re.findall(r'<a href="(validation/data_docs/validations/[^"]+)">', page)
    assert links and all((folder / link).exists() for link in links)


SAMPLE = """<!DOCTYPE html><html><head><title>t</title>
<link rel="stylesheet" href="https://maxcdn.example.org/bootstrap.min.css"/>
<link rel="shortcut icon" href="static/images/favicon.ico" type="image/x-icon"/>
<style>.a { background: url('https://assets.example.org/logo.png') } @import url("//fonts.example.org/x.css");
@media (prefers-color-scheme: dark) { .table { color: #fff } .b { color: red } }</style>
<script src="https://code.example.org/jquery.min.js"></script>
</head><body>
<img src="https://assets.example.org/logo-long.png?d=1" alt="Great Expectations">
<a href="https://example.org/newsletter">Subscribe</a>
<table id="t1" class="table-sm" data-toggle="table"></table>
<script>
  $('#t1').bootstrapTable(
    Object.assign(
      {
        columns: [{'field': 'run_name', 'title': 'Run Name'}, {'field': 'ok', 'title': 'Status'}],
        data: [{'run_name': 'b', 'ok': 'yes', '_run_name_sort': 'b', '_table_row_link_path': 'validations/b.html'},
               {'run_name': 'a', 'ok': 'no', '_run_name_sort': 'a', '_table_row_link_path': 'validations/a.html'}],
        toolbar: '#t1-toolbar'
      },
      {'sortName': 'run_name', 'sortOrder': 'asc'}
    )
  );
</script>
<table id="t2" class="table-sm" data-toggle="table"></table>
<script>$('#t2').somethingElse({columns: []});</script>
<footer><a href="https://example.org/docs">docs</a></footer>
</body></html>"""


def test_make_offline_on_a_hand_made_page(tmp_path):
    (tmp_path / "static" / "images").mkdir(parents=True)
    (tmp_path / "static" / "images" / "logo-long.png").write_bytes(b"\x89PNG")
    (tmp_path / "validations").mkdir()
    for name in ("a", "b"):
        (tmp_path / "validations" / f"{name}.html").write_text("<html><head></head><body>x</body></html>")
    (tmp_path / "index.html").write_text(SAMPLE, encoding="utf-8")
    assert external_references(SAMPLE)
    result = make_offline(tmp_path)
    out = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert result == {"pages": 3, "rewritten": 3}
    assert external_references(out) == [] and "example.org" not in out
    assert "<script src" not in out and "bootstrapTable" not in out
    assert 'href="static/images/favicon.ico"' in out and 'src="static/images/logo-long.png"' in out
    assert "prefers-color-scheme" not in out and ".b { color: red }" not in out
    # the script-filled table, static and sorted as its options say, each row linked
    t1 = re.search(r'<table id="t1"[^>]*>(.*?)</table>', out, re.S).group(1)
    assert t1.index("validations/a.html") < t1.index("validations/b.html")
    assert "<th>Run Name</th><th>Status</th>" in t1
    # a table whose script is not understood lists the site's pages instead of staying empty
    t2 = re.search(r'<table id="t2"[^>]*>(.*?)</table>', out, re.S).group(1)
    assert "validations/a.html" in t2 and "validations/b.html" in t2
    assert "<footer" not in out
    assert make_offline(tmp_path) == {"pages": 3, "rewritten": 0}  # idempotent
    assert modes_under(tmp_path) == []


# --------------------------------------------------------------------------- stale sources


def _delivery(con, run_id: str, source: str, on: date, decision: str, loaded: bool = True) -> None:
    con.execute(
        "INSERT INTO deliveries (run_id, source, file_name, sha256, size_bytes, delivery_date, received_at, decision, "
        "loaded_at) VALUES ($1, $2, $3, 'x', 1, $4, now(), $5, CASE WHEN $6 THEN now() END)",
        [run_id, source, f"{source}_{on:%Y%m%d}.csv", on, decision, loaded])


def test_stale_sources(tmp_path):
    cfg = make_place(tmp_path / "place")
    as_of = date(2026, 11, 21)
    ctx = RunContext("tonight", cfg.place, as_of)
    with connect(cfg) as con:
        _delivery(con, "earlier", "register", as_of - timedelta(days=1), "accepted")
        _delivery(con, "earlier", "health", as_of - timedelta(days=3), "accepted")
        _delivery(con, "tonight", "health", as_of, "refused")
        _delivery(con, "earlier", "police", as_of - timedelta(days=8), "accepted")
        _delivery(con, "earlier", "housing", as_of - timedelta(days=7), "accepted")
        _delivery(con, "failed-run", "housing", as_of - timedelta(days=1), "accepted", loaded=False)
        _delivery(con, "tonight", "social_care", as_of, "accepted", loaded=False)  # loaded later tonight
    f = {s.source: s for s in source_freshness(cfg, ctx)}
    assert (f["register"].stale, f["register"].status) == (False, "current")
    assert f["health"].stale and f["health"].status == "stale since 2026-11-18" and "refused" in f["health"].why
    assert f["police"].stale and f["police"].stale_since == date(2026, 11, 13) and "8 days old" in f["police"].why
    assert not f["housing"].stale and f["housing"].last_accepted == date(2026, 11, 14)  # unloaded one ignored
    assert not f["social_care"].stale
    assert f["outcomes"].stale and f["outcomes"].status == "stale: no accepted delivery yet"
    stricter = replace(cfg, validation=replace(cfg.validation, stale_after_days=2))
    assert {s.source for s in source_freshness(stricter, ctx) if s.stale} == {"health", "police", "housing", "outcomes"}


# --------------------------------------------------------------------------- a whole night


@pytest.mark.slow
def test_a_synthetic_night_with_a_broken_delivery(tmp_path):
    """2,000 people and one broken health CSV through the whole pipeline: published, summary, manifest, modes."""
    import json

    from stratify.config import load_config
    from stratify.run.pipeline import run_pipeline
    from stratify.synth.generate import synthesize

    root = tmp_path / "place"
    root.mkdir()
    # Six months of history is too little to train the wobbling model: the night publishes the crisis tier
    # with a warning, and no time goes on training (what is checked here is validation's summary, the
    # manifest and the modes; tests/test_model.py and tests/test_e2e_dag.py train a first model).
    (root / "place.yaml").write_text("place: synthetic\nlanding: landing\nwarehouse: wh.duckdb\nout: out\n"
                                     "neighbourhoods: neighbourhoods.csv\nmodel:\n  history_months: 6\n",
                                     encoding="utf-8")
    (root / "neighbourhoods.csv").write_text("lsoa21,team\nE01000001,NT01\n", encoding="utf-8")
    as_of = date(2026, 11, 20)
    synthesize(load_config(root / "place.yaml"), people=2000, as_of=as_of, seed=3)
    cfg = load_config(root / "place.yaml")
    bad = cfg.landing / "health" / "health_20261120_9.csv"
    bad.write_text("record_id,person_id,event_date,event_type\n"
                   f"X1,{pid(1)},2026-11-01,ae_attendence\nX2,{pid(2)},2027-01-01,ae_attendance\n", encoding="utf-8")
    with no_settle_pause():  # nothing is being written during the night
        result = run_pipeline(cfg, as_of)
    assert result["status"] == "published"
    run = cfg.out / "runs" / result["run_id"]
    page = (run / "validation.html").read_text(encoding="utf-8")
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    with connect(cfg) as con:
        files = con.execute("SELECT file_name, decision FROM deliveries WHERE run_id = $1", [result["run_id"]]).fetchall()
    for name, decision in files:
        assert f"<h3>{name} <span class=\"badge {decision}\">" in page
    broken = re.search(r"<h3>health_20261120_9\.csv(.*?)</section>", page, re.S).group(1)
    assert "health.event_type.codes" in broken and "health.event_date.date_range" in broken
    assert "failed in 1 of 2 rows" in broken  # a file's rows, failing or not: exact, as in the Data Docs
    assert not HEX64.findall(page) and external_references(page) == []
    assert manifest["stale_sources"]["health"]["status"] == "stale since 2026-11-20"
    assert manifest["stale_sources"]["register"]["status"] == "current"
    assert manifest["validation_summary"] == "validation.html"
    assert "validation.html" in [o["path"] for o in manifest["outputs"]]
    assert modes_under(cfg.out / "runs", cfg.quarantine, cfg.archive) == []


# --------------------------------------------------------------------------- in a browser, offline


CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def offline_screenshot(page: Path, tmp: Path):
    """A headless Chromium screenshot of `page` with every host name unresolvable (as on an offline machine)."""
    from PIL import Image

    shot = tmp / f"{page.stem}.png"
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--host-resolver-rules=MAP * ~NOTFOUND",
         f"--user-data-dir={tmp / 'profile'}", f"--screenshot={shot}", "--window-size=1280,1000", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return Image.open(shot).convert("RGB")


def share_of(img, rgb: tuple[int, int, int], tolerance: int = 3) -> float:
    """The share of pixels within `tolerance` of a colour."""
    import numpy as np

    px = np.asarray(img, dtype=np.int16)
    return float((np.abs(px - np.array(rgb, dtype=np.int16)) <= tolerance).all(axis=-1).mean())


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it with apt-get)")
def test_offline_browser_renders_data_docs_and_summary_styled(night, tmp_path):
    docs = staging_dir(night["cfg"], night["ctx"]) / "validation" / "data_docs"
    broken_page = next(docs.glob(f"validations/health/*health_{DDATE}_2.csv/*/*.html"))
    docs_img = offline_screenshot(broken_page, tmp_path)
    assert share_of(docs_img, (0xE2, 0xE3, 0xE5)) > 0.01  # the grey section bands of our stylesheet
    summary_img = offline_screenshot(night["page_path"], tmp_path)
    assert share_of(summary_img, (0xFF, 0xF1, 0xE5)) > 0.002  # the "held" banner
    assert share_of(summary_img, (0xFF, 0xEB, 0xE9)) > 0.0002  # "refused" badges


# --------------------------------------------------------------------------- what an IG officer signs off


def _fairness(groups: dict[str, tuple[int, int, float]]) -> dict:
    """A model bundle's fairness block for one attribute: group -> (people, positives, recall)."""
    by_group = {g: {"count": n, "positives": p, "recall": r, "false_positive_rate": 0.1, "precision": 0.5,
                    "selection_rate": 0.1} for g, (n, p, r) in groups.items()}
    return {"by_group": by_group, "largest_gap": {"recall": 0.0, "false_positive_rate": 0.0}}


def test_ig_page_shows_opt_outs_access_log_and_the_model_with_unmeasurable_gaps(night, tmp_path):
    import json
    from datetime import datetime

    from stratify.publish.validation_page import render_summary, summary_context
    from stratify.run.summaries import write_stage_summary

    cfg, ctx = night["cfg"], night["ctx"]
    write_stage_summary(cfg, ctx, "link", {"registered": 61319, "opted_out": 4, "died": 37, "no_team": 0,
                                           "listable": 61278})
    sex = _fairness({"female": (4000, 120, 0.61), "male": (3900, 110, 0.55)})
    sex["largest_gap"] = {"recall": 0.06, "false_positive_rate": 0.0}
    metrics = {"fairness": {"sex": sex, "ethnic_group": _fairness({"A": (5000, 200, 0.6), "B": (80, 3, 0.0)}),
                            "largest_gap": {"recall": 0.06, "false_positive_rate": 0.0}}}
    now = datetime.now(UTC)
    with connect(cfg) as con:
        con.execute("INSERT INTO models (model_version, trained_at, as_of, data_from, data_to, "
                    "horizon_months, algorithm, path, metrics_json, promoted) VALUES ('20261101-gra-abc12345', $1, DATE '2026-11-01', DATE '2024-01-01', "
                    "DATE '2026-05-01', 6, 'gradient_boosting', 'm.joblib', $2, true)", [now, json.dumps(metrics)])
        con.execute("INSERT INTO access_log VALUES ($1, 'a.officer', 'export_list', $2, 'huddle on Tuesday', 3)",
                    [now, json.dumps({"team": "NT01", "run_id": "r1", "output": "/x.csv"})])
        con.execute("INSERT INTO access_log VALUES ($1, 'b.lead', 'reidentify', $2, 'safeguarding referral 42', 57)",
                    [now, json.dumps({"list": "/runs/r1/lists/NT01.csv", "lookup": "/secure/l.csv"})])
    try:
        page = render_summary(summary_context(cfg, ctx, night["page_path"].parent, "held", "held for a test"))
    finally:
        with connect(cfg) as con:
            con.execute("DELETE FROM models; DELETE FROM access_log")
        (night["page_path"].parent / "stages" / "link.json").unlink()
    register = re.search(r'<h2 id="register">(.*?)<h2', page, re.S).group(1)
    assert "opt-out applied" in register and "died" in register
    assert "<td class=\"num\">&lt;10</td>" in register and "<td class=\"num\">35</td>" in register  # 4 and 37, suppressed
    assert "61,320" in register  # registered people: a count of people, rounded
    access = re.search(r'<h2 id="access">(.*?)<h2', page, re.S).group(1)
    assert "a.officer" in access and "huddle on Tuesday" in access and "team NT01, run r1" in access
    assert "b.lead" in access and "list re-identified" in access and "list NT01.csv" in access
    assert "/secure/l.csv" not in access and ">55<" in access and ">&lt;10<" in access and ">57<" not in access
    model = re.search(r'<h2 id="model">(.*)</body>', page, re.S).group(1)
    assert "20261101-gra-abc12345" in model
    ethnic = re.findall(r"<td>ethnic group</td>.*?</tr>", model, re.S)
    assert ethnic and all("not measurable (fewer than 30 positives in all but one group)" in r for r in ethnic)
    assert all(">0.00<" not in r and "B</td>" in r for r in ethnic)  # B has 3 positives: not compared, not "0.0"
    sex_rows = re.findall(r"<td>sex</td>.*?</tr>", model, re.S)
    assert ">0.06<" in sex_rows[0] and "female, male" in sex_rows[0]


def test_check_counts_agree_with_the_data_docs_or_say_why(night):
    """The page's checks per delivery: the Great Expectations part equals the Data Docs' "Evaluated Expectations"."""
    docs = staging_dir(night["cfg"], night["ctx"]) / "validation" / "data_docs"
    page = night["page"]
    for name in (f"health_{DDATE}.csv", f"health_{DDATE}_2.csv"):
        section = re.search(r"<h3>%s <span(.*?)</section>" % re.escape(name), page, re.S).group(1)
        docs_page = next(docs.glob(f"validations/health/*{name}/*/*.html")).read_text(encoding="utf-8")
        evaluated = int(re.search(r"Evaluated Expectations(?:</div>)?</td>\s*<td[^>]*>(?:<div[^>]*>)?\s*(\d+)", docs_page).group(1))
        total = int(re.search(r"<dt>checks</dt><dd>(\d+) checks", section).group(1))
        by_gx = int(re.search(r"(\d+) by Great Expectations \(in the Data Docs\)", section).group(1))
        assert by_gx == evaluated
        assert (total != evaluated) == (name == f"health_{DDATE}.csv")  # only the accepted one had its key check
        if total != evaluated:  # the page says where the others come from
            assert f"{total - evaluated} by stratify itself, not in the Data Docs" in section
            assert "pseudonyms against the register" in section


def test_data_docs_label_every_derived_column_as_not_delivered(night):
    from stratify.validate.suites import derived_columns

    derived = derived_columns()
    assert {"end_date__calendar", "event_date__yyyymmdd", "length_of_stay_days__number"} <= set(derived)
    docs = staging_dir(night["cfg"], night["ctx"]) / "validation" / "data_docs"
    named = 0
    for page in docs.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if "__calendar" in text:
            assert "Columns marked <em>derived</em> were not delivered" in text
        text = re.sub(r'<div class="stratify-derived-note">.*?</div>', "", text, flags=re.S)  # the note explains them
        for m in re.finditer(r"(?<!\w)(\w+__(?:calendar|yyyymmdd|number|age_years))(?!\w)", text):
            if text.rfind("<", 0, m.start()) > text.rfind(">", 0, m.start()):
                continue  # inside a tag (an attribute): not read as text
            named += 1
            assert m.group(1) in derived, m.group(1)
            assert text[m.end():].lstrip().startswith('<span class="stratify-derived"'), (page.name, m.group(1))
    assert named > 20


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it with apt-get)")
def test_failed_only_button_works_offline_in_a_browser(night, tmp_path):
    """Clicking "Failed only" on a Data Docs validation page hides the checks that passed, with no external script."""
    docs = staging_dir(night["cfg"], night["ctx"]) / "validation" / "data_docs"
    page = next(docs.glob(f"validations/health/*health_{DDATE}_2.csv/*/*.html"))
    text = page.read_text(encoding="utf-8")
    assert 'onclick="hideSucceededValidations()"' in text and "function hideSucceededValidations" in text
    probe = page.with_name("probe.html")
    click = ("<script>document.querySelector('label[onclick=\"hideSucceededValidations()\"]').click();"
             "document.title = 'hidden ' + [...document.querySelectorAll('tr')].filter("
             "r => r.querySelector('.hide-succeeded-validation-target-child') && getComputedStyle(r).display === 'none')"
             ".length + ' failed-visible ' + [...document.querySelectorAll('td .text-danger, td .fa-times')].filter("
             "e => e.offsetParent !== null).length;</script>")
    probe.write_text(text.replace("</body>", click + "</body>"), encoding="utf-8")
    try:
        done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                               "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp_path / 'profile'}",
                               "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    finally:
        probe.unlink()
    title = re.search(r"<title>([^<]*)</title>", done.stdout).group(1)
    hidden, visible = map(int, re.fullmatch(r"hidden (\d+) failed-visible (\d+)", title).groups())
    assert hidden >= 20  # the checks that passed
    assert visible >= 2  # the two that failed stay in view


def test_the_ig_page_counts_linkage_problems_and_moves_recorded_by_the_teams(tmp_path):
    """wrong_person is a linkage problem: the IG page counts it (suppressed), beside moved_away."""
    import json as _json
    from types import SimpleNamespace

    from stratify.publish.governance import register_exclusions
    from stratify.run.context import RunContext, staging_dir

    cfg = SimpleNamespace(out=tmp_path / "out", place="p", suppression=SuppressionConfig(min_count=10, round_to=5))
    ctx = RunContext("r-linkage", "p", date(2026, 11, 20))
    stages = staging_dir(cfg, ctx) / "stages"
    stages.mkdir(parents=True)
    (stages / "link.json").write_text(_json.dumps({"registered": 1200, "opted_out": 20, "died": 3, "no_team": 0}))
    (stages / "rank.json").write_text(_json.dumps({"withdrawn": {"wrong_person": 12, "moved_away": 2}}))
    shown = register_exclusions(cfg, ctx)
    assert shown["wrong_person"] == "10" and shown["moved_away"] == "<10"
