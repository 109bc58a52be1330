"""`baseline.html` and `baseline.json`: the place's starting point, for its leaders.

One self-contained, printable page (charts inline as SVG drawn by
matplotlib, no script, no outside file) from `stratify.baseline.figures`:
people by team, how many are known to several agencies, where the cost sits
(top 1% and 5% of people and of households, with the curve), cost by agency
and event type and what is not costed, handoffs, the place's priorities and
their overlaps, and the same for each of the last three years. Aggregates
only, small numbers suppressed, the price year and the table's source on the
page. The JSON holds the same figures.
"""

from __future__ import annotations

import io
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

from stratify.config import PlaceConfig
from stratify.resources import TEMPLATES_DIR
from stratify.warehouse.database import connect

TEMPLATE = "baseline.html.j2"
COLOURS = ("#1d4e89", "#7aa6c2", "#c3d7e6")


def _svg(fig) -> str:
    """A matplotlib figure as an inline <svg> element (no XML prologue, no fixed pixel size)."""
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    return re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 class="chart"', text, count=1)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "svg.fonttype": "none", "svg.hashsalt": "stratify-baseline"})
    return plt


def concentration_chart(year: dict) -> str | None:
    curves = [(k, year["concentration"][k]["curve"]) for k in ("people", "households")]
    if not any(c for _, c in curves):
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    for (label, curve), colour in zip(curves, COLOURS):
        if curve:
            ax.plot([100 * x for x, _ in curve], [100 * y for _, y in curve], color=colour, lw=2,
                    label=f"{label} (costliest first)")
    ax.plot([0, 100], [0, 100], color="#999", lw=1, ls="--", label="if everyone cost the same")
    ax.set_xlabel("share of the place's people / households, costliest first (%)")
    ax.set_ylabel("share of the estimated cost (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.legend(frameon=False, loc="lower right")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def agency_chart(years: list[dict]) -> str | None:
    plt = _plt()
    agencies = [a["agency"] for a in years[0]["cost_by_agency"]]
    fig, ax = plt.subplots(figsize=(5.2, 3.0))
    width = 0.8 / len(years)
    drawn = False
    for j, (year, colour) in enumerate(zip(years, COLOURS)):
        values = [(a["cost_12m_gbp"] or 0) / 1e6 for a in year["cost_by_agency"]]
        drawn = drawn or any(values)
        ax.bar([i + j * width for i in range(len(agencies))], values, width, color=colour,
               label=f"year to {year['as_of']}")
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xticks([i + width * (len(years) - 1) / 2 for i in range(len(agencies))], agencies)
    ax.set_ylabel("estimated cost, £ million")
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def _as_number(text: str) -> float:
    return float(text) if text.isdigit() else 0.0


def agencies_chart(year: dict) -> str:
    plt = _plt()
    counts = year["known_to_agencies_12m"]
    fig, ax = plt.subplots(figsize=(4.2, 2.6))
    keys = ["1", "2", "3", "4"]
    bars = ax.bar(keys, [_as_number(counts[k]) for k in keys], color=COLOURS[0])
    for bar, k in zip(bars, keys):
        ax.annotate(counts[k], (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom")
    ax.set_xlabel("agencies that recorded the person in 12 months")
    ax.set_ylabel("people")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def render_baseline(figures: dict[str, Any]) -> str:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined)
    env.filters["gbp"] = lambda v: "suppressed" if v is None else f"£{v:,.0f}"
    env.filters["gbpm"] = lambda v: "suppressed" if v is None else (
        f"£{v / 1e6:,.1f} million" if v >= 1e6 else f"£{v:,.0f}")
    env.filters["pct"] = lambda v: "suppressed" if v is None else f"{100 * v:.1f}%"
    from markupsafe import Markup

    years = figures["years"]
    charts = {"concentration": concentration_chart(years[0]), "agency": agency_chart(years),
              "agencies": agencies_chart(years[0])}
    charts = {k: Markup(v) if v else None for k, v in charts.items()}  # our own matplotlib output, no input text
    return env.get_template(TEMPLATE).render(f=figures, now=years[0], years=years, charts=charts)


def write_baseline(cfg: PlaceConfig, as_of: date, folder: Path) -> list[Path]:
    """Compute the baseline for `as_of` and write `baseline.html` and `baseline.json` into `folder`."""
    from stratify.baseline.figures import baseline_figures
    from stratify.costs.timing import timed
    from stratify.files.permissions import private_umask

    with timed("baseline"):
        with connect(cfg) as con:
            figures = baseline_figures(con, cfg, as_of)
        folder.mkdir(parents=True, exist_ok=True)
        html, data = folder / "baseline.html", folder / "baseline.json"
        with private_umask():
            html.write_text(render_baseline(figures), encoding="utf-8")
            data.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    return [html, data]


def published_baseline_files(cfg: PlaceConfig, as_of: date, stage: Path) -> list[dict]:
    """For `publish`: the baseline written into the run's folder, as output entries (paths relative to it)."""
    return [{"path": p.name} for p in write_baseline(cfg, as_of, stage)]
