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
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import escape

from helpers import no_settle_pause
from stratify.config import SuppressionConfig
from stratify.ingest.discover import archive_file, discover_deliveries
from stratify.publish.stage import PublishHeld, publish_lists
from stratify.publish.validation_page import source_freshness, suppress, suppress_text
from stratify.run.context import RunContext, staging_dir
from stratify.validate.data_docs import MARKER, external_references, make_offline
from stratify.validate.stage import validate_deliveries
from stratify.warehouse.database import connect
from test_ingest import DDATE, health_rows, make_place, new_run, pid, register_rows, write_csv

if TYPE_CHECKING:
    import PIL.Image

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


def test_suppress_text_hides_counts_percentages_row_lists_and_pseudonyms():
    cfg = SuppressionConfig()
    reason = ("health_1.csv: refused: event_type: event_type is one of the health codes - failed in 3 of 40 rows "
              "(data rows 9, 10, 12) [health.event_type.codes]; key mismatch: 7 of 230 distinct person_id pseudonyms "
              f"(3%) match no registered person; limit 50%; column x holds 2 valid NHS number(s); {pid(4)}")
    out = suppress_text(reason, cfg)
    assert "failed in <10 of 40 rows (first at data row 9)" in out
    assert "<10 of 230 distinct person_id pseudonyms match" in out and "(3%)" not in out and "limit 50%" in out
    assert "holds <10 valid NHS" in out
    assert pid(4) not in out and "[pseudonym]" in out
    assert "10, 12" not in out


@settings(max_examples=60)
@given(st.integers(1, 9), st.integers(1, 9), st.lists(st.integers(1, 500), min_size=1, max_size=5, unique=True))
def test_suppress_text_never_shows_a_small_count(bad, total, rows):
    text = f"x: rule - failed in {bad} of {total} rows (data row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows))})"
    out = suppress_text(text, SuppressionConfig())
    assert f"{bad} of" not in out and f"of {total} rows" not in out
    assert out.count("data row") == 1 and "," not in out.split("data row")[1]


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
    assert "failed in &lt;10 of 10 rows (first at data row 4)" in broken  # 1 of 12 rows, both suppressed
    unrecognised = re.search(r"<h3>notes\.txt(.*?)</section>", page, re.S).group(1)
    assert "refused" in unrecognised and "matches no source" in unrecognised


def test_summary_suppresses_counts_and_shows_no_pseudonym_or_value(night):
    page = night["page"]
    assert not HEX64.findall(page)
    assert "ae_attendence" not in page and "2027-01-05" not in page
    cell = re.search(r"<h3>register_%s\.csv.*?<dt>rows</dt><dd>([^<]*)</dd>" % DDATE, page, re.S).group(1)
    assert cell == "30"
    health = re.search(r"<h3>health_%s_2\.csv.*?<dt>rows</dt><dd>([^<]*)</dd>" % DDATE, page, re.S).group(1)
    assert health == "10"  # 12 rows, rounded to the nearest 5
    assert not re.search(r"\b(1|2|3|4|5|6|7|8|9) of \d+ rows", page)


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
    assert "&lt;10 of &lt;10 rows" in broken
    assert not HEX64.findall(page) and external_references(page) == []
    assert manifest["stale_sources"]["health"]["status"] == "stale since 2026-11-20"
    assert manifest["stale_sources"]["register"]["status"] == "current"
    assert manifest["validation_summary"] == "validation.html"
    assert "validation.html" in [o["path"] for o in manifest["outputs"]]
    assert modes_under(cfg.out / "runs", cfg.quarantine, cfg.archive) == []


# --------------------------------------------------------------------------- in a browser, offline


CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def offline_screenshot(page: Path, tmp: Path) -> PIL.Image.Image:
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
