"""What information-governance staff read after each night: `validation.html` in the run folder.

One self-contained page per run (no scripts, styles or fonts from elsewhere;
text escaped by Jinja2's autoescape) built from the warehouse's `deliveries`
and `validation_results`: per source, what arrived, how many rows, which
checks passed and failed (rule names and where), the decision and why, how
fresh each source is, and what the run published or why it held.

Counts of rows and of people are aggregates about people, so every one of
them goes through `suppress` (1 to min_count-1 shown as `<min_count`, others
rounded to the nearest `round_to`), including the counts inside validation's
reason texts (`suppress_text`). Pseudonyms never appear: the reasons carry
none by construction, and any 64-hex string is masked all the same (file
checksums are shown shortened).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from stratify.config import PlaceConfig, SuppressionConfig
from stratify.contract import load_contract
from stratify.files.permissions import write_private_text
from stratify.resources import TEMPLATES_DIR
from stratify.run.context import RunContext
from stratify.warehouse.database import SQL_DIR, connect, read_sql

TEMPLATES = TEMPLATES_DIR
SUMMARY_NAME = "validation.html"
DECIDED_OK = ("accepted", "accepted_with_warnings")
HEX64_RE = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])")
N_OF_M_RE = re.compile(r"\b(\d+) of (\d+)\b")
PERCENT_RE = re.compile(r"\s*\(\d+(?:\.\d+)?%\)")
HOLDS_RE = re.compile(r"\bholds (\d+) ")
ROW_LIST_RE = re.compile(r"\bdata rows? (\d+)(?:, \d+)*(?:, \.\.\.)?")


# --------------------------------------------------------------------------- suppression


def suppress(n: int, cfg: SuppressionConfig) -> str:
    """A count as it may be shown in an aggregate: `0`, `<min_count`, or rounded to the nearest `round_to`.

    Every count from 1 to min_count-1 gives the same text, so no small count
    can be read back. A rounded count is never shown below min_count (it
    would name a value that only small counts can have, e.g. 12 -> `10` with
    min_count 12), so the lowest bucket starts at the first multiple of
    round_to at or above min_count.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"suppress: a count must be a whole number, got {type(n).__name__}")
    if n < 0:
        raise ValueError(f"suppress: a count cannot be negative ({n})")
    if cfg.min_count < 1 or cfg.round_to < 1:
        raise ValueError("suppression.min_count and suppression.round_to must be at least 1")
    if n == 0:
        return "0"
    if n < cfg.min_count:
        return f"<{cfg.min_count}"
    step = cfg.round_to
    rounded = step * math.floor(n / step + 0.5)  # nearest multiple, halves up
    floor_bucket = step * math.ceil(cfg.min_count / step)
    return str(max(rounded, floor_bucket))


def suppress_text(text: str | None, cfg: SuppressionConfig) -> str:
    """A validation reason or detail with its counts suppressed and no pseudonym in it.

    `N of M` becomes `suppress(N) of suppress(M)`; a percentage beside it is
    dropped (with M it would give N back); `holds N` is suppressed; a list of
    row numbers keeps only the first (the length of a short list is a count).
    """
    if not text:
        return ""
    out = HEX64_RE.sub("[pseudonym]", text)
    out = N_OF_M_RE.sub(lambda m: f"{suppress(int(m.group(1)), cfg)} of {suppress(int(m.group(2)), cfg)}", out)
    out = PERCENT_RE.sub("", out)
    out = HOLDS_RE.sub(lambda m: f"holds {suppress(int(m.group(1)), cfg)} ", out)
    return ROW_LIST_RE.sub(lambda m: f"first at data row {m.group(1)}", out)


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


def summary_context(cfg: PlaceConfig, ctx: RunContext, folder: Path, outcome: str, why: str | None = None,
                    outputs: list[dict] | None = None,
                    freshness: list[SourceFreshness] | None = None) -> dict[str, Any]:
    """Everything the page shows, already suppressed and free of pseudonyms (the template only lays it out).

    `freshness`: tonight's `source_freshness`, when the caller already has it (read again otherwise).
    """
    sup = cfg.suppression
    with connect(cfg) as con:
        cur = con.execute(read_sql(SQL_DIR / "report_deliveries.sql"), {"run_id": ctx.run_id})
        cols = [d[0] for d in cur.description]
        deliveries = [dict(zip(cols, r)) for r in cur.fetchall()]
        cur = con.execute(read_sql(SQL_DIR / "report_failed_checks.sql"), {"run_id": ctx.run_id})
        ccols = [d[0] for d in cur.description]
        failed = [dict(zip(ccols, r)) for r in cur.fetchall()]
    by_delivery: dict[int, list[dict]] = {}
    for c in failed:
        by_delivery.setdefault(c["delivery_id"], []).append({
            "rule": c["expectation"], "column": c["column_name"] or "", "severity": c["severity"],
            "failing": _count(c["unexpected_count"], sup), "of": _count(c["element_count"], sup),
            "detail": suppress_text(c["detail"], sup),
        })
    shown = []
    for d in deliveries:
        shown.append({
            "id": d["delivery_id"], "source": d["source"] or "(no source)", "file": HEX64_RE.sub("[pseudonym]", d["file_name"]),
            "sha256": (d["sha256"] or "")[:12], "size": _size(d["size_bytes"]),
            "delivery_date": d["delivery_date"].isoformat() if d["delivery_date"] else "",
            "received": d["received_utc"] or "",
            "rows": _count(d["rows"], sup), "decision": d["decision"], "reason": suppress_text(d["reason"], sup),
            "checks": d["checks"], "passed": d["checks_passed"], "failed": d["checks_failed"], "warned": d["checks_warned"],
            "failed_checks": by_delivery.get(d["delivery_id"], []),
            "docs": _docs_page(folder, ctx.run_id, d["delivery_id"], d["source"]),
        })
    freshness = {f.source: f for f in (freshness if freshness is not None else source_freshness(cfg, ctx))}
    sources = []
    for name in list(freshness) + sorted({d["source"] for d in shown} - set(freshness)):
        mine = [d for d in shown if d["source"] == name]
        raw_rows = sum(d["rows"] or 0 for d in deliveries if (d["source"] or "(no source)") == name)
        f = freshness.get(name)
        sources.append({
            "name": name, "files": len(mine), "rows": suppress(int(raw_rows), sup),
            "decisions": _tally(d["decision"] for d in mine),
            "passed": sum(d["passed"] for d in mine), "failed": sum(d["failed"] for d in mine),
            "warned": sum(d["warned"] for d in mine),
            "last_accepted": f.last_accepted.isoformat() if f and f.last_accepted else "never",
            "status": f.status if f else "not a contract source", "stale": bool(f and f.stale),
            "why": f.why if f else "",
        })
    published = [{"path": o["path"], "team": o.get("team") or "", "rows": _count(o.get("rows"), sup)}
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


def _count(n: Any, cfg: SuppressionConfig) -> str:
    return "not known" if n is None else suppress(int(n), cfg)


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
