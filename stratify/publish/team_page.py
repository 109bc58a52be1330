"""Each team's folder and the place overview: what a team lead opens before the morning huddle.

`teams/<team>/` holds everything one team is shown and nothing about anyone
else, so the folder can be shared with that team alone: the ranked list
(`<team>.csv`, the same file as `lists/<team>.csv`), `already_working.csv`,
`snoozed.csv`, `dropped.csv`, the workbook `<team>.xlsx` and `report.html`.
The report links only to files in its own folder.

`report.html` is one self-contained page (no scripts, styles, fonts or
images from elsewhere; Jinja2 autoescape): the ranked households with each
member's tier, score, reasons, agencies, change and last outcome, a timeline
of each listed person's contacts by agency over the last year drawn as
inline SVG, the sections "already working with", snoozed and dropped off,
and the freshness of each source.

`overview.html` at the run folder's root is for leaders: counts by team and
tier, trends over the last runs, freshness; every count goes through
`stratify.publish.validation_page.suppress`, and it holds no pseudonym.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
from markupsafe import Markup, escape

from stratify.config import PlaceConfig
from stratify.files.permissions import make_private_dir, write_private_text
from stratify.lists.rank import AGENCIES, TIMELINE_DAYS, TeamLists, frame_records, load_timelines, person_runs
from stratify.publish.validation_page import SourceFreshness, suppress
from stratify.resources import TEMPLATES_DIR

TEMPLATES = TEMPLATES_DIR
AGENCY_LABELS = {"health": "Health", "social_care": "Social care", "housing": "Housing", "police": "Police"}
AGENCY_COLOURS = {"health": "#0072b2", "social_care": "#d55e00", "housing": "#009e73", "police": "#8e44ad"}
SECTION_FILES = {"already_working": "already_working.csv", "snoozed": "snoozed.csv", "dropped": "dropped.csv"}
TREND_RUNS = 14

# Timeline geometry (SVG user units = CSS px): a label column, then one column per week.
TL_LABEL_W, TL_WEEK_W, TL_ROW_H, TL_AXIS_H, TL_WEEKS = 70, 6, 13, 14, TIMELINE_DAYS // 7 + 1


# --------------------------------------------------------------------------- timelines


@dataclass(frozen=True)
class Mark:
    """One week's contacts with one agency, as an SVG rectangle."""

    x: int
    y: int
    w: int
    h: int
    fill: str
    opacity: float
    title: str


class Weeks(NamedTuple):
    """One person's contacts by agency and week, as columns (`source`, `week_ago`, `events`)."""

    source: list[str]
    week_ago: list[int]
    events: list[int]


def timeline(weeks: Weeks, as_of: date) -> dict[str, Any]:
    """The drawing of one person's year: rectangles per (agency, week), month ticks, row labels.

    `weeks`: source, week_ago (0 = the week ending on as_of), events.
    Darker = more contacts that week. Everything is numbers or fixed
    labels. A night's pages hold tens of thousands of marks (hundreds of
    thousands at 3,000,000 people), and drawing each in the template cost
    seven autoescaped expressions: so each distinct mark (agency, week,
    contacts) is drawn once a night here (`_draw_mark`, text escaped), and
    the part every person shares (row bands, labels, month ticks) once a
    night by the template (`timeline_frame`); the template draws the rest.
    """
    marks, lines = [], []
    total = {a: 0 for a in AGENCIES}
    for source, week_ago, events in zip(weeks.source, weeks.week_ago, weeks.events):
        if source not in _ROW_OF or not 0 <= week_ago < TL_WEEKS:
            continue
        total[source] += int(events)
        mark, line = _draw_mark(source, int(week_ago), int(events), as_of)
        marks.append(mark)
        lines.append(line)
    rows = [{"y": i * TL_ROW_H, "label": AGENCY_LABELS[a], "total": total[a]} for i, a in enumerate(AGENCIES)]
    height = len(AGENCIES) * TL_ROW_H + TL_AXIS_H
    summary = ", ".join(f"{AGENCY_LABELS[a]} {total[a]}" for a in AGENCIES)
    return {**_frame(as_of), "height": height, "rows": rows, "marks": marks, "marks_svg": Markup("".join(lines)),
            "frame_svg": timeline_frame(as_of), "title": f"Contacts by agency, last 12 months: {summary}"}


def _frame(as_of: date) -> dict[str, Any]:
    """What every timeline of the night shares: geometry, row labels, month ticks."""
    return {"width": TL_LABEL_W + TL_WEEKS * TL_WEEK_W + 2, "axis_y": len(AGENCIES) * TL_ROW_H,
            "label_w": TL_LABEL_W, "ticks": [dict(k) for k in _month_ticks(as_of)],
            "rows": [{"y": i * TL_ROW_H, "label": AGENCY_LABELS[a]} for i, a in enumerate(AGENCIES)]}


@lru_cache(maxsize=4)
def timeline_frame(as_of: date) -> Markup:
    """The row bands, labels and month ticks of a night's timelines, drawn once by the template's `frame` macro."""
    return _environment().get_template("_timeline.html.j2").module.frame(_frame(as_of))


_ROW_OF = {a: i for i, a in enumerate(AGENCIES)}
_MARK_SVG = ('<rect class="mark" x="{x}" y="{y}" width="{w}" height="{h}" fill="{fill}" fill-opacity="{opacity}">'
             '<title>{title}</title></rect>\n')


@lru_cache(maxsize=8192)  # a night draws a few hundred distinct marks
def _draw_mark(source: str, week_ago: int, n: int, as_of: date) -> tuple[Mark, str]:
    """One week's contacts with one agency: the mark, and its SVG line as the template wrote it.

    Numbers are written as the template writes them (`str`); the fill (a
    fixed colour) and the title are escaped, so nothing goes in unescaped.
    """
    m = Mark(x=TL_LABEL_W + (TL_WEEKS - 1 - week_ago) * TL_WEEK_W, y=_ROW_OF[source] * TL_ROW_H + 2,
             w=TL_WEEK_W - 1, h=TL_ROW_H - 3, fill=AGENCY_COLOURS[source], opacity=round(min(1.0, 0.35 + 0.22 * n), 2),
             title=f"{AGENCY_LABELS[source]}: {n} contact{'s' if n != 1 else ''} in the week to "
                   f"{_week_ends(as_of)[week_ago]}")
    return m, _MARK_SVG.format(x=int(m.x), y=int(m.y), w=int(m.w), h=int(m.h), fill=escape(m.fill),
                               opacity=float(m.opacity), title=escape(m.title))


@lru_cache(maxsize=4)
def _week_ends(as_of: date) -> tuple[str, ...]:
    """The last day of each week shown (index: weeks ago), as ISO dates: the same for every person."""
    return tuple((as_of - timedelta(days=7 * w)).isoformat() for w in range(TL_WEEKS))


@lru_cache(maxsize=4)
def _month_ticks(as_of: date) -> tuple[dict[str, Any], ...]:
    """The month ticks under every timeline of a night (the same for every person)."""
    ticks = []
    start = as_of - timedelta(days=TL_WEEKS * 7 - 1)
    m = date(start.year, start.month, 1)
    while m <= as_of:
        if m >= start:
            weeks_back = (as_of - m).days / 7
            ticks.append({"x": round(TL_LABEL_W + (TL_WEEKS - weeks_back) * TL_WEEK_W, 1),
                          "label": m.strftime("%b") if m.month != 1 else m.strftime("%Y")})
        m = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
    return tuple(ticks)


def shown_timelines(cfg: PlaceConfig, as_of: date, teams: dict[str, TeamLists]) -> dict[str, Weeks]:
    """Weekly contacts by agency over the last year for everyone shown tonight, per person (one query).

    Split into plain columns in one pass: a DataFrame per person (thousands at
    3,000,000 people) cost more than drawing them.
    """
    ids = {pid for t in teams.values() for f in (t.listed, t.already_working, t.snoozed) for pid in f["person_id"]}
    frame = load_timelines(cfg, ids, as_of)
    if frame.empty:
        return {}
    source, week_ago, events = (frame[c].tolist() for c in ("source", "week_ago", "events"))
    return {pid: Weeks(source[rows], week_ago[rows], events[rows])  # in person order (list_timelines.sql)
            for pid, rows in person_runs(frame["person_id"].to_numpy())}


# --------------------------------------------------------------------------- the team's page


def _people(frame: pd.DataFrame, timelines: dict[str, Weeks], as_of: date) -> list[dict[str, Any]]:
    empty = Weeks([], [], [])
    out = []
    for r in frame_records(frame):
        out.append({
            **{k: ("" if v is None or (not isinstance(v, str) and pd.isna(v)) else v) for k, v in r.items()},
            "score_text": f"{float(r['score']):.2f}",
            "reason_list": [x for x in str(r.get("reasons") or "").split("; ") if x],
            "agency_list": [AGENCY_LABELS.get(a, a) for a in str(r.get("agencies") or "").split("; ") if a],
            "timeline": timeline(timelines.get(r["person_id"], empty), as_of),
        })
    return out


def team_context(cfg: PlaceConfig, run_id: str, as_of: date, t: TeamLists, freshness: list[SourceFreshness],
                 timelines: dict[str, Weeks], files: dict[str, str], notices: list[str] = ()) -> dict[str, Any]:
    """Everything the team's page shows, for this team's people only (the template lays it out)."""
    people = _people(t.listed, timelines, as_of)
    households: list[dict[str, Any]] = []
    for p in people:
        if not households or households[-1]["rank"] != p["household_rank"]:
            households.append({"rank": p["household_rank"], "household_id": p["household_id"], "tier": p["household_tier"],
                               "members": [], "registered": p.get("household_members", "")})
        households[-1]["members"].append(p)
    aw_by_household = {}
    for r in t.already_working.itertuples(index=False):
        if isinstance(r.household_id, str) and r.household_id:
            aw_by_household.setdefault(r.household_id, []).append(r.person_id)
    for h in households:
        h["already_working"] = aw_by_household.get(h["household_id"], []) if h["household_id"] else []
    return {
        "place": cfg.place, "team": t.team, "run_id": run_id, "as_of": as_of.isoformat(),
        "written_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "capacity": t.capacity, "counts": t.counts, "first_list": not t.previous_published,
        "households": households,
        "already_working": _people(t.already_working, timelines, as_of),
        "snoozed": _people(t.snoozed, timelines, as_of),
        "dropped": t.dropped.to_dict("records"),
        "freshness": [{"source": f.source, "last": f.last_accepted.isoformat() if f.last_accepted else "never",
                       "stale": f.stale, "status": f.status, "why": f.why} for f in freshness],
        "files": files, "colours": AGENCY_COLOURS, "labels": AGENCY_LABELS, "notices": list(notices),
        "already_working_days": cfg.lists.already_working_days, "snooze_days": cfg.lists.snooze_days,
    }


@lru_cache(maxsize=1)
def _environment():
    """One Jinja environment per process: it keeps each template compiled after its first page.

    A new environment per page compiled the team report's template (and its
    timeline macro) again for every team and the overview.
    """
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(template: str, context: dict[str, Any]) -> str:
    """One page from its template, the shared stylesheet inlined."""
    css = (TEMPLATES / "team_report.css").read_text(encoding="utf-8")
    return _environment().get_template(template).render(css=css, **context)


def write_csv(path: Path, frame: pd.DataFrame, columns: Iterable[str]) -> Path:
    """A section's CSV (UTF-8, header row), created 0o640."""
    cols = list(columns)
    text = frame.reindex(columns=cols).to_csv(index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    return write_private_text(path, text)


SECTION_COLUMNS = {
    "already_working": ["person_id", "household_id", "tier", "score", "reasons", "agencies", "outcome", "outcome_date"],
    "snoozed": ["person_id", "household_id", "tier", "score", "reasons", "agencies", "outcome", "outcome_date", "until"],
    "dropped": ["person_id", "household_id", "previous_rank", "previous_tier", "previous_score", "reason", "detail"],
}


def write_team_folder(cfg: PlaceConfig, run_id: str, as_of: date, root: Path, t: TeamLists, list_csv: Path,
                      freshness: list[SourceFreshness], timelines: dict[str, Weeks],
                      notices: list[str] = ()) -> list[dict]:
    """Write `teams/<team>/` under `root` (the run's staging folder); return what was written, relative to root."""
    from stratify.publish.workbook import write_workbook

    folder = make_private_dir(root / "teams" / t.team)
    written = []

    def note(path: Path, rows: int | None) -> None:
        written.append({"team": t.team, "path": path.relative_to(root).as_posix(), "rows": rows})

    own_list = folder / f"{t.team}.csv"
    write_private_text(own_list, list_csv.read_text(encoding="utf-8"))
    note(own_list, len(t.listed))
    frames = {"already_working": t.already_working, "snoozed": t.snoozed, "dropped": t.dropped}
    for name, frame in frames.items():
        shown = frame.assign(score=frame["score"].map(lambda s: f"{float(s):.4f}")) if "score" in frame else frame
        if name == "dropped" and not frame.empty:
            shown = frame.assign(previous_score=frame["previous_score"].map(lambda s: "" if s != s else f"{s:.4f}"))
        note(write_csv(folder / SECTION_FILES[name], shown, SECTION_COLUMNS[name]), len(frame))
    book = write_workbook(folder / f"{t.team}.xlsx", t, cfg.place, run_id, as_of, freshness)
    note(book, len(t.listed))
    files = {"list": own_list.name, "workbook": book.name, **{k: v for k, v in SECTION_FILES.items()}}
    page = render("team_report.html.j2", team_context(cfg, run_id, as_of, t, freshness, timelines, files, notices))
    note(write_private_text(folder / "report.html", page), None)
    return written


# --------------------------------------------------------------------------- the place overview


def overview_context(cfg: PlaceConfig, run_id: str, as_of: date, teams: dict[str, TeamLists],
                     trends: pd.DataFrame, freshness: list[SourceFreshness], notices: list[str] = ()) -> dict[str, Any]:
    """Counts by team and tier now and over the last runs, every count suppressed; no pseudonyms."""
    sup = cfg.suppression
    keys = ("listed_crisis", "listed_wobbling", "new", "already_working", "snoozed", "dropped")
    rows = [{"team": name, **{k: suppress(int(t.counts.get(k, 0)), sup) for k in keys},
             "capacity": t.capacity} for name, t in teams.items()]
    total = {k: suppress(sum(int(t.counts.get(k, 0)) for t in teams.values()), sup) for k in keys}
    series = trend_series(trends, run_id, as_of, teams)
    return {
        "place": cfg.place, "run_id": run_id, "as_of": as_of.isoformat(),
        "written_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "rows": rows, "total": total, "min_count": sup.min_count, "round_to": sup.round_to, "notices": list(notices),
        "trend": trend_chart(series, sup), "trend_table": trend_table(series, list(teams), sup),
        "freshness": [{"source": f.source, "last": f.last_accepted.isoformat() if f.last_accepted else "never",
                       "stale": f.stale, "status": f.status, "why": f.why} for f in freshness],
    }


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


def trend_chart(series: list[dict[str, Any]], sup) -> dict[str, Any]:
    """A small line chart of the place's listed people per tier over the runs, from suppressed counts."""
    width, height, left, right, top, bottom = 640, 200, 44, 16, 12, 36
    pts = {tier: [_plotted(s[tier], sup) for s in series] for tier in ("crisis", "wobbling")}
    ymax = max([v for p in pts.values() for v, _, _ in p] + [float(sup.min_count)])
    n = len(series)
    xs = [left + (width - left - right) * (i / (n - 1) if n > 1 else 0.5) for i in range(n)]
    y = lambda v: top + (height - top - bottom) * (1 - v / ymax)  # noqa: E731
    lines = []
    for tier, colour, dash in (("crisis", "#b42318", ""), ("wobbling", "#f79009", "6 3")):
        points = [{"x": round(xs[i], 1), "y": round(y(v), 1), "label": lab, "exact": ex, "as_of": series[i]["as_of"]}
                  for i, (v, lab, ex) in enumerate(pts[tier])]
        lines.append({"tier": tier, "colour": colour, "dash": dash, "points": points,
                      "path": " ".join(f"{p['x']},{p['y']}" for p in points)})
    grid = [{"y": round(y(v), 1), "label": str(int(v))} for v in (0, ymax / 2, ymax)]
    labels = [{"x": round(xs[i], 1), "label": s["as_of"][5:]} for i, s in enumerate(series)]
    return {"width": width, "height": height, "lines": lines, "grid": grid, "labels": labels,
            "left": left, "right": width - right, "base": round(y(0), 1), "runs": n}


def trend_table(series: list[dict[str, Any]], teams: list[str], sup) -> dict[str, Any]:
    """Per team and run, listed people in crisis / wobbling, suppressed."""
    rows = []
    for team in teams:
        cells = []
        for s in series:
            c = s["by_team"].get(team)
            cells.append("" if c is None else f"{suppress(c['crisis'], sup)} / {suppress(c['wobbling'], sup)}")
        rows.append({"team": team, "cells": cells})
    return {"runs": [s["as_of"] for s in series], "rows": rows}


def write_overview(cfg: PlaceConfig, run_id: str, as_of: date, root: Path, teams: dict[str, TeamLists],
                   trends: pd.DataFrame, freshness: list[SourceFreshness], notices: list[str] = ()) -> Path:
    """`overview.html` at the run folder's root (0o640)."""
    page = render("overview.html.j2", overview_context(cfg, run_id, as_of, teams, trends, freshness, notices))
    return write_private_text(root / "overview.html", page)
