"""What information-governance staff read after each night: `validation.html` in the run folder.

One self-contained page per run (no scripts, styles or fonts from elsewhere;
text escaped by Jinja2's autoescape) built from the warehouse's `deliveries`
and `validation_results`: per source, what arrived, how many rows, which
checks passed and failed (rule names and where), the decision and why, how
fresh each source is, and what the run published or why it held; then who
the register left out, who exported or re-identified a list, and the
promoted model with its fairness results (`stratify.publish.governance`).

Counts are rendered from fields, never edited out of finished sentences:
counts of a delivery's rows (its rows, the rows that broke a rule) are exact,
as they reconcile with the supplier's delivery note and the Data Docs; every
count of people (pseudonyms, NHS numbers found, opt-outs, deaths, people
listed or exported) goes through `stratify.publish.suppression` as it is
rendered, and the reasons of validated deliveries are worded from their
findings (`stratify.validate.findings`) with suppressed counts. Pseudonyms
never appear: the reasons carry none by construction, and any 64-hex string
in a file name or an intake reason is masked all the same (file checksums are
shown shortened).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from stratify.config import PlaceConfig
from stratify.contract import load_contract
from stratify.files.permissions import write_private_text
from stratify.publish.governance import access_summary, model_summary, register_exclusions
from stratify.publish.measures_section import measures_context
from stratify.publish.suppression import Count, SuppressedCounts
from stratify.resources import TEMPLATES_DIR
from stratify.run.context import RunContext
from stratify.run.summaries import read_stage_summaries
from stratify.validate.findings import Finding, delivery_reason, detail_text
from stratify.validate.results import finding_from_row
from stratify.warehouse.database import SQL_DIR, connect, read_sql

TEMPLATES = TEMPLATES_DIR
SUMMARY_NAME = "validation.html"
DECIDED_OK = ("accepted", "accepted_with_warnings")
HEX64_RE = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])")


# --------------------------------------------------------------------------- freshness


@dataclass(frozen=True)
class SourceFreshness:
    """How current one source's data is after tonight's run."""

    source: str
    last_accepted: date | None
    stale: bool
    stale_since: date | None
    why: str

    @property
    def status(self) -> str:
        if not self.stale:
            return "current"
        return f"stale since {self.stale_since.isoformat()}" if self.stale_since else "stale: no accepted delivery yet"

    def to_manifest(self) -> dict[str, Any]:
        return {"last_accepted": self.last_accepted.isoformat() if self.last_accepted else None,
                "stale": self.stale,
                "stale_since": self.stale_since.isoformat() if self.stale_since else None,
                "status": self.status, "why": self.why}


def source_freshness(cfg: PlaceConfig, ctx: RunContext) -> list[SourceFreshness]:
    """Per contract source: its last accepted delivery and whether it is stale, and why.

    A source is stale when tonight's delivery of it was refused or held, when
    its last accepted delivery is more than `validation.stale_after_days` days
    before the run's date, or when none was ever accepted. It is stale since
    the date of its last accepted delivery: its data is current up to then.
    """
    with connect(cfg) as con:
        rows = con.execute(read_sql(SQL_DIR / "source_freshness.sql"), {"run_id": ctx.run_id}).fetchall()
    seen = {r[0]: r for r in rows}
    limit = cfg.validation.stale_after_days
    out = []
    for name in load_contract().source_names:
        _, last, tonight, bad = seen.get(name, (name, None, 0, 0))
        reasons = []
        if bad:
            reasons.append(f"{bad} of tonight's {tonight} deliveries refused or held" if tonight > 1
                           else "tonight's delivery was refused or held")
        if last is None:
            reasons.append("no delivery has been accepted yet")
        elif (ctx.as_of - last).days > limit:
            reasons.append(f"last accepted delivery is {(ctx.as_of - last).days} days old (limit {limit})")
        out.append(SourceFreshness(name, last, bool(reasons), last if reasons else None,
                                   "; ".join(reasons) if reasons else
                                   ("delivered tonight" if tonight else f"within {limit} days")))
    return out


def stale_sources(cfg: PlaceConfig, ctx: RunContext,
                  freshness: list[SourceFreshness] | None = None) -> dict[str, dict[str, Any]]:
    """The manifest's `stale_sources`: per source, last accepted delivery date and status.

    `freshness`: tonight's `source_freshness`, when the caller already has it (read again otherwise).
    """
    return {f.source: f.to_manifest() for f in (freshness if freshness is not None else source_freshness(cfg, ctx))}


# --------------------------------------------------------------------------- the page


@lru_cache(maxsize=1)
def _environment():
    """One Jinja environment per process, so a template is compiled once, not on every page."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env


def _docs_page(folder: Path, run_id: str, delivery_id: int, source: str | None) -> str | None:
    """The delivery's GX Data Docs page, relative to the run folder (validate names runs `<run>-<delivery>-<file>`)."""
    if not source:
        return None
    base = folder / "validation" / "data_docs" / "validations" / source
    hits = sorted(base.glob(f"{run_id}-{delivery_id}-*/*/*.html")) if base.is_dir() else []
    return os.path.relpath(hits[-1], folder).replace(os.sep, "/") if hits else None


CHECKERS = {"gx": "by Great Expectations (in the Data Docs)", "stratify": "by stratify itself, not in the Data Docs",
            "not_evaluated": "not evaluated because a column they read is missing, not in the Data Docs"}
STRATIFY_CHECKS = {"stratify.read": "reading the file", "stratify.data_minimisation": "direct identifiers",
                   "stratify.key_mismatch": "pseudonyms against the register"}


def _findings_by_delivery(rows: list[dict]) -> dict[int, list[Finding]]:
    out: dict[int, list[Finding]] = {}
    for r in rows:
        out.setdefault(r["delivery_id"], []).append(finding_from_row(r))
    return out


def _check_row(f: Finding, words: SuppressedCounts) -> dict[str, Any]:
    """One failed (or warned, or not evaluated) check as the page's table shows it, counts rendered from fields."""
    failing = ("not evaluated" if f.checked_by == "not_evaluated"
               else words.count(f.count, exact=f.count_is_of_rows) if f.count is not None else "")
    return {"rule": f.check, "column": f.column or "", "severity": f.severity, "failing": failing,
            "of": words.count(f.out_of, exact=f.out_of_is_delivery_rows) if f.out_of is not None else "",
            "detail": detail_text(f, words) if f.rule else "", "by": f.checked_by}


def _checks(findings: list[Finding]) -> dict[str, Any]:
    """How many checks ran, by whom, and how they ended: the GX part is the Data Docs' "Evaluated Expectations"."""
    by = {k: sum(1 for f in findings if f.checked_by == k) for k in CHECKERS}
    return {"total": len(findings), "by": by,
            "by_words": [f"{n} {CHECKERS[k]}" for k, n in by.items() if n],
            "stratify_names": sorted({STRATIFY_CHECKS.get(f.check, f.check) for f in findings
                                      if f.checked_by == "stratify"}),
            "passed": sum(1 for f in findings if f.success),
            "failed": sum(1 for f in findings if not f.success and f.severity == "critical"),
            "warned": sum(1 for f in findings if not f.success and f.severity != "critical")}


def _reason(d: dict, findings: list[Finding], words: SuppressedCounts) -> str:
    """Why a delivery got its decision: worded from its findings if validation decided it, else intake's words.

    Intake's reasons (no source for the name, a duplicate, a misplaced file)
    carry no counts; a pseudonym-like string in a file name is masked.
    """
    file_name = HEX64_RE.sub("[pseudonym]", d["file_name"])
    if findings:
        return delivery_reason(file_name, d["decision"], findings, words) or ""
    return HEX64_RE.sub("[pseudonym]", d["reason"] or "")


def summary_context(cfg: PlaceConfig, ctx: RunContext, folder: Path, outcome: str, why: str | None = None,
                    outputs: list[dict] | None = None,
                    freshness: list[SourceFreshness] | None = None) -> dict[str, Any]:
    """Everything the page shows, already suppressed and free of pseudonyms (the template only lays it out).

    `freshness`: tonight's `source_freshness`, when the caller already has it (read again otherwise).
    """
    sup = cfg.suppression
    words = SuppressedCounts(sup)
    with connect(cfg) as con:
        cur = con.execute(read_sql(SQL_DIR / "report_deliveries.sql"), {"run_id": ctx.run_id})
        cols = [d[0] for d in cur.description]
        deliveries = [dict(zip(cols, r)) for r in cur.fetchall()]
        cur = con.execute(read_sql(SQL_DIR / "report_findings.sql"), {"run_id": ctx.run_id})
        fcols = [d[0] for d in cur.description]
        findings = _findings_by_delivery([dict(zip(fcols, r)) for r in cur.fetchall()])
    shown = []
    for d in deliveries:
        mine = findings.get(d["delivery_id"], [])
        checks = _checks(mine)
        shown.append({
            "id": d["delivery_id"], "source": d["source"] or "(no source)", "file": HEX64_RE.sub("[pseudonym]", d["file_name"]),
            "sha256": (d["sha256"] or "")[:12], "size": _size(d["size_bytes"]),
            "delivery_date": d["delivery_date"].isoformat() if d["delivery_date"] else "",
            "received": d["received_utc"] or "",
            "rows": Count(d["rows"], exact=True).shown(sup), "decision": d["decision"],
            "reason": _reason(d, mine, words),
            "checks": checks, "passed": checks["passed"], "failed": checks["failed"], "warned": checks["warned"],
            "failed_checks": [_check_row(f, words) for f in mine if not f.success],
            "docs": _docs_page(folder, ctx.run_id, d["delivery_id"], d["source"]),
        })
    freshness = {f.source: f for f in (freshness if freshness is not None else source_freshness(cfg, ctx))}
    sources = []
    for name in list(freshness) + sorted({d["source"] for d in shown} - set(freshness)):
        mine = [d for d in shown if d["source"] == name]
        raw_rows = sum(d["rows"] or 0 for d in deliveries if (d["source"] or "(no source)") == name)
        f = freshness.get(name)
        sources.append({
            "name": name, "files": len(mine), "rows": Count(int(raw_rows), exact=True).shown(sup),
            "decisions": _tally(d["decision"] for d in mine),
            "passed": sum(d["passed"] for d in mine), "failed": sum(d["failed"] for d in mine),
            "warned": sum(d["warned"] for d in mine),
            "last_accepted": f.last_accepted.isoformat() if f and f.last_accepted else "never",
            "status": f.status if f else "not a contract source", "stale": bool(f and f.stale),
            "why": f.why if f else "",
        })
    published = [{"path": o["path"], "team": o.get("team") or "", "rows": Count(o.get("rows")).shown(sup)}
                 for o in (outputs or [])]
    docs_index = folder / "validation" / "data_docs" / "index.html"
    return {
        "place": cfg.place, "run_id": ctx.run_id, "as_of": ctx.as_of.isoformat(),
        "written_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "outcome": outcome, "why": why or "", "sources": sources, "deliveries": shown, "published": published,
        "decisions": _tally(d["decision"] for d in shown),
        "data_docs": "validation/data_docs/index.html" if docs_index.exists() else None,
        "min_count": sup.min_count, "round_to": sup.round_to,
        "stale_after_days": cfg.validation.stale_after_days,
        "register": register_exclusions(cfg, ctx), "access": access_summary(cfg), "model": model_summary(cfg),
        # who tonight's lists select, past lists' precision and drift (the measure stage; None on a held run)
        "measures": measures_context(read_stage_summaries(cfg, ctx).get("measure"), sup),
    }


def render_summary(context: dict[str, Any]) -> str:
    """The page's HTML: one template, autoescaped, with its stylesheet inlined."""
    env = _environment()
    css = (TEMPLATES / "validation.css").read_text(encoding="utf-8")
    return env.get_template("validation.html.j2").render(css=css, **context)


def write_validation_summary(cfg: PlaceConfig, ctx: RunContext, folder: Path, outcome: str, why: str | None = None,
                             outputs: list[dict] | None = None,
                             freshness: list[SourceFreshness] | None = None) -> Path:
    """Write `validation.html` (0o640) into `folder` (the run's staging folder) and return its path.

    `outcome` is `published` or `held`; `why` says why a run held;
    `outputs` are the files published (path, team, rows).
    """
    if outcome not in ("published", "held"):
        raise ValueError(f"write_validation_summary: outcome must be 'published' or 'held', got {outcome!r}")
    page = render_summary(summary_context(cfg, ctx, Path(folder), outcome, why, outputs, freshness))
    return write_private_text(Path(folder) / SUMMARY_NAME, page)


def _size(n: int | None) -> str:
    if n is None:
        return ""
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n = n / 1024
    return str(n)


def _tally(decisions) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in decisions:
        out[d] = out.get(d, 0) + 1
    return out
