"""The place overview for leaders: `overview.html` at the run folder's root.

What leaders ask of it: how many people each team's list is drawn from (the
registered population, the denominator), how many each team listed in
crisis and wobbling against its capacity, how many met the crisis rules or
scored as wobbling but were not listed because the list was full (the unmet
need), and how that moved over the last runs. One run is a table; a chart
is drawn from two runs on, with a line only for a tier that has people.

Every count of people goes through the place's suppression
(`stratify.publish.validation_page.suppress`): 1 to min_count-1 shown as
`<min_count`, larger counts rounded. The page holds no pseudonym.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from stratify.config import PlaceConfig, SuppressionConfig
from stratify.files.permissions import write_private_text
from stratify.lists.team import TeamLists
from stratify.publish.about_list import ListFacts, list_facts, sentences
from stratify.publish.measures_section import measures_context
from stratify.publish.suppression import suppress
from stratify.publish.team_page import freshness_rows, render
from stratify.publish.validation_page import SourceFreshness
from stratify.warehouse.database import SQL_DIR, connect, read_sql

TREND_RUNS = 14
TIERS = ("crisis", "wobbling")
COUNT_KEYS = ("registered", "listed_crisis", "listed_wobbling", "over_capacity_crisis", "over_capacity_wobbling",
              "new", "already_working", "snoozed", "dropped")


def load_population(cfg: PlaceConfig) -> dict[str, int]:
    """Per team, the registered, living, not opted-out people in its area tonight."""
    with connect(cfg) as con:
        return {team: int(n) for team, n in con.execute(read_sql(SQL_DIR / "overview_population.sql")).fetchall()}


def team_rows(teams: dict[str, TeamLists], population: dict[str, int], sup: SuppressionConfig) -> tuple[list, dict]:
    """Per team and for the place: every count suppressed, the capacity as configured."""
    raw = {name: {"registered": int(population.get(name, 0)), **{k: int(t.counts.get(k, 0)) for k in COUNT_KEYS[1:]}}
           for name, t in teams.items()}
    rows = [{"team": name, "capacity": teams[name].capacity, **{k: suppress(v, sup) for k, v in r.items()}}
            for name, r in raw.items()]
    total = {k: suppress(sum(r[k] for r in raw.values()), sup) for k in COUNT_KEYS}
    return rows, total


def trend_series(trends: pd.DataFrame, run_id: str, as_of: date, teams: dict[str, TeamLists]) -> list[dict[str, Any]]:
    """Per run (oldest first, tonight last): listed people by team and tier (raw counts, suppressed later)."""
    runs: dict[str, dict[str, Any]] = {}
    for r in trends[trends["section"] == "listed"].itertuples(index=False) if not trends.empty else []:
        if r.run_id == run_id:
            continue
        run = runs.setdefault(r.run_id, {"run_id": r.run_id, "as_of": pd.Timestamp(r.as_of).date().isoformat(),
                                         "by_team": {}, "crisis": 0, "wobbling": 0})
        run["by_team"].setdefault(r.team, {"crisis": 0, "wobbling": 0})[r.tier] = int(r.people)
        run[r.tier] += int(r.people)
    series = list(runs.values())[-(TREND_RUNS - 1):]
    tonight = {"run_id": run_id, "as_of": as_of.isoformat(), "by_team": {}, "crisis": 0, "wobbling": 0}
    for name, t in teams.items():
        tonight["by_team"][name] = {"crisis": t.counts["listed_crisis"], "wobbling": t.counts["listed_wobbling"]}
        tonight["crisis"] += t.counts["listed_crisis"]
        tonight["wobbling"] += t.counts["listed_wobbling"]
    return series + [tonight]


def _plotted(n: int, sup) -> tuple[float, str, bool]:
    """A suppressed count as (value to plot, label, exact?): small counts sit on the axis, hollow."""
    shown = suppress(int(n), sup)
    if shown.startswith("<"):
        return 0.0, shown, False
    return float(shown), shown, True


def trend_chart(series: list[dict[str, Any]], sup) -> dict[str, Any] | None:
    """A line chart of the place's listed people per tier over the runs, from suppressed counts.

    None before a second run (one run is a point, said better by the table);
    a tier with nobody listed in any run gets no line and no legend entry.
    """
    if len(series) < 2:
        return None
    width, height, left, right, top, bottom = 640, 200, 44, 16, 12, 36
    drawn = [t for t in TIERS if any(s[t] for s in series)]
    if not drawn:
        return None
    pts = {tier: [_plotted(s[tier], sup) for s in series] for tier in drawn}
    ymax = max([v for p in pts.values() for v, _, _ in p] + [float(sup.min_count)])
    n = len(series)
    xs = [left + (width - left - right) * i / (n - 1) for i in range(n)]
    y = lambda v: top + (height - top - bottom) * (1 - v / ymax)  # noqa: E731
    lines = []
    for tier, colour, dash in (("crisis", "#b42318", ""), ("wobbling", "#f79009", "6 3")):
        if tier not in drawn:
            continue
        points = [{"x": round(xs[i], 1), "y": round(y(v), 1), "label": lab, "exact": ex, "as_of": series[i]["as_of"]}
                  for i, (v, lab, ex) in enumerate(pts[tier])]
        lines.append({"tier": tier, "colour": colour, "dash": dash, "points": points,
                      "path": " ".join(f"{p['x']},{p['y']}" for p in points)})
    grid = [{"y": round(y(v), 1), "label": str(int(v))} for v in (0, ymax / 2, ymax)]
    labels = [{"x": round(xs[i], 1), "label": s["as_of"][5:]} for i, s in enumerate(series)]
    return {"width": width, "height": height, "lines": lines, "grid": grid, "labels": labels,
            "left": left, "right": width - right, "base": round(y(0), 1), "runs": n}


def trend_table(series: list[dict[str, Any]], teams: list[str], sup) -> dict[str, Any]:
    """Per team and run, listed people in crisis / wobbling, suppressed; the place's totals last."""
    rows = []
    for team in teams:
        cells = []
        for s in series:
            c = s["by_team"].get(team)
            cells.append("" if c is None else f"{suppress(c['crisis'], sup)} / {suppress(c['wobbling'], sup)}")
        rows.append({"team": team, "cells": cells})
    total = [f"{suppress(s['crisis'], sup)} / {suppress(s['wobbling'], sup)}" for s in series]
    return {"runs": [s["as_of"] for s in series], "rows": rows, "total": total}


def overview_context(cfg: PlaceConfig, run_id: str, as_of: date, teams: dict[str, TeamLists],
                     trends: pd.DataFrame, freshness: list[SourceFreshness], notices: list[str] = (),
                     population: dict[str, int] | None = None, facts: ListFacts | None = None,
                     measures: dict | None = None) -> dict[str, Any]:
    """Population, listed, unmet need and trends by team, every count suppressed; no pseudonyms."""
    sup = cfg.suppression
    rows, total = team_rows(teams, population or {}, sup)
    series = trend_series(trends, run_id, as_of, teams)
    facts = facts or list_facts(cfg, run_id, as_of, freshness)
    return {
        "place": cfg.place, "run_id": run_id, "as_of": as_of.isoformat(),
        "written_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "rows": rows, "total": total, "min_count": sup.min_count, "round_to": sup.round_to, "notices": list(notices),
        "trend": trend_chart(series, sup), "trend_table": trend_table(series, list(teams), sup),
        "freshness": freshness_rows(freshness), "about": sentences(facts, sup),
        "measures": measures_context(measures, sup),
    }


def write_overview(cfg: PlaceConfig, run_id: str, as_of: date, root: Path, teams: dict[str, TeamLists],
                   trends: pd.DataFrame, freshness: list[SourceFreshness], notices: list[str] = (),
                   population: dict[str, int] | None = None, facts: ListFacts | None = None,
                   measures: dict | None = None) -> Path:
    """`overview.html` at the run folder's root (0o640); `measures`: the measure stage's summary."""
    page = render("overview.html.j2", overview_context(cfg, run_id, as_of, teams, trends, freshness, notices,
                                                       population, facts, measures))
    return write_private_text(root / "overview.html", page)
