"""Each team's folder: what a team lead opens before the morning huddle.

`teams/<team>/` holds everything one team is shown and nothing about anyone
else, so the folder can be shared with that team alone: the ranked list
(`<team>.csv`, the same file as `lists/<team>.csv`), `already_working.csv`,
`snoozed.csv`, `dropped.csv`, the workbook `<team>.xlsx`, `report.html` and
`about_this_list.txt` (what the list is and is not, beside the CSVs, whose
columns the data contract fixes) and `timelines.json` (the weeks of contacts its
timelines draw, so the web app draws the same from the published run). The report links only to files in its own
folder and to places on itself.

`report.html` is one self-contained page (no scripts, styles, fonts or
images from elsewhere; Jinja2 autoescape): what the list is (it supports a
professional's judgement and decides nothing; what crisis, wobbling and a
score mean; model version, data date, freshness of each source), links to
jump to each tier, each household and what changed, the ranked households
with each member's short reference (`short_refs`: said aloud in the huddle;
the full pseudonym is in the CSV), tier, rules met or score, reasons,
change and last outcome, a timeline of each listed person's contacts by
agency over the last year drawn as inline SVG, the sections "already
working with", snoozed and dropped off. It prints on A4 landscape (the
stylesheet's print rules).

The place overview for leaders is `stratify.publish.overview`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
from markupsafe import Markup, escape

from stratify.config import PlaceConfig
from stratify.costs.list_columns import cost_sentences, household_cost_text
from stratify.features.sentences import crisis_summary
from stratify.files.permissions import make_private_dir, write_private_text
from stratify.lists.history import person_runs
from stratify.lists.queries import AGENCIES, TIMELINE_DAYS, load_timelines
from stratify.lists.team import TeamLists, frame_records
from stratify.publish.about_list import TEXT_NAME, ListFacts, as_text, list_facts, sentences
from stratify.publish.people import crisis_rules_met, team_refs
from stratify.publish.validation_page import SourceFreshness
from stratify.resources import TEMPLATES_DIR
from stratify.warehouse.database import connect

TEMPLATES = TEMPLATES_DIR
AGENCY_LABELS = {"health": "Health", "social_care": "Social care", "housing": "Housing", "police": "Police"}
AGENCY_COLOURS = {"health": "#0072b2", "social_care": "#d55e00", "housing": "#009e73", "police": "#8e44ad"}
SECTION_FILES = {"already_working": "already_working.csv", "snoozed": "snoozed.csv", "dropped": "dropped.csv"}

# Timeline geometry (SVG user units = CSS px): a label column, then one column per week, then a margin the
# last month's name may run into. Labels are 11 px (team_report.css); MONTH_LABEL_W is each month's name's
# width at that size in Chromium's system-ui, plus about 8%, so that names are placed without overlapping.
TL_LABEL_W, TL_WEEK_W, TL_ROW_H, TL_AXIS_H, TL_WEEKS, TL_PAD_R = 72, 6, 15, 16, TIMELINE_DAYS // 7 + 1, 6
MONTH_LABEL_W = {"Jan": 20, "Feb": 21, "Mar": 23, "Apr": 21, "May": 25, "Jun": 20, "Jul": 16, "Aug": 23, "Sep": 23,
                 "Oct": 21, "Nov": 24, "Dec": 23}


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


def timeline_span(as_of: date) -> tuple[str, str]:
    """The first month and the last day the timelines show, in words ("November 2025", "20 November 2026")."""
    return (as_of - timedelta(days=TL_WEEKS * 7 - 1)).strftime("%B %Y"), f"{as_of.day} {as_of:%B %Y}"


def _frame(as_of: date) -> dict[str, Any]:
    """What every timeline of the night shares: geometry, row labels, month ticks."""
    return {"width": TL_WIDTH, "axis_y": len(AGENCIES) * TL_ROW_H, "band_h": TL_ROW_H - 2, "plot_w": TL_WEEKS * TL_WEEK_W,
            "label_w": TL_LABEL_W, "ticks": [dict(k) for k in _month_ticks(as_of)],
            "rows": [{"y": i * TL_ROW_H, "label": AGENCY_LABELS[a]} for i, a in enumerate(AGENCIES)]}


@lru_cache(maxsize=4)
def timeline_frame(as_of: date) -> Markup:
    """The row bands, labels and month ticks of a night's timelines, drawn once by the template's `frame` macro."""
    return _environment().get_template("_timeline.html.j2").module.frame(_frame(as_of))


_ROW_OF = {a: i for i, a in enumerate(AGENCIES)}
TL_WIDTH = TL_LABEL_W + TL_WEEKS * TL_WEEK_W + TL_PAD_R
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
    """The month ticks under every timeline of a night (the same for every person).

    Each month that starts inside the year shown gets a tick and its name
    (January too: "Jan"; the years are in the page's legend), written from
    its tick. The last month, when its name does not fit before the right
    edge, has it written against the edge instead (`anchor` end), unless
    that would run into the month before's name: then the tick only. So no
    label is ever cut off ("D" for a December three days old).
    """
    ticks: list[dict[str, Any]] = []
    start = as_of - timedelta(days=TL_WEEKS * 7 - 1)
    m = date(start.year, start.month, 1)
    while m <= as_of:
        if m >= start:
            weeks_back = (as_of - m).days / 7
            x = round(TL_LABEL_W + (TL_WEEKS - weeks_back) * TL_WEEK_W, 1)
            name = m.strftime("%b")
            tick = {"x": x, "label": name, "tx": round(x + 1, 1), "anchor": "start", "w": MONTH_LABEL_W[name]}
            if x + 1 + tick["w"] > TL_WIDTH:
                previous_end = ticks[-1]["tx"] + ticks[-1]["w"] if ticks and ticks[-1]["label"] else TL_LABEL_W
                if TL_WIDTH - 1 - tick["w"] >= previous_end:
                    tick.update(tx=TL_WIDTH - 1, anchor="end")
                else:
                    tick["label"] = ""
            ticks.append(tick)
        m = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
    return tuple(ticks)


TIMELINES_FILE = "timelines.json"


def timelines_json(as_of: date, people: Iterable[str], timelines: dict[str, Weeks]) -> str:
    """`teams/<team>/timelines.json`: the weeks the team's page draws, for the web app to draw the same.

    `{"as_of": ..., "people": {person_id: [source, week_ago, events] columns}}`
    for everyone the team's page shows (nobody else); recorded in
    `publications` with the other files, so the app reads the published run only.
    """
    empty = Weeks([], [], [])
    weeks = {pid: timelines.get(pid, empty) for pid in people}
    return json.dumps({"as_of": as_of.isoformat(), "people": {
        pid: {"source": list(w.source), "week_ago": [int(x) for x in w.week_ago], "events": [int(x) for x in w.events]}
        for pid, w in weeks.items()}}, separators=(",", ":"))


def read_timelines(data: bytes) -> dict[str, Weeks]:
    """The weeks of `timelines.json` (`timelines_json`), per person."""
    people = json.loads(data)["people"]
    return {pid: Weeks(list(w["source"]), [int(x) for x in w["week_ago"]], [int(x) for x in w["events"]])
            for pid, w in people.items()}


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


def _people(frame: pd.DataFrame, timelines: dict[str, Weeks], as_of: date, refs: dict[str, str],
            rules: int, price_year: str = "", costs: dict[str, str] | None = None) -> list[dict[str, Any]]:
    empty = Weeks([], [], [])
    out = []
    for r in frame_records(frame):
        crisis = r.get("tier") == "crisis"
        severity = r.get("severity")
        met = crisis_rules_met(severity) if crisis and severity is not None and not pd.isna(severity) else None
        out.append({
            **{k: ("" if v is None or (not isinstance(v, str) and pd.isna(v)) else v) for k, v in r.items()},
            "ref": refs[r["person_id"]],
            "score_text": f"{float(r['score']):.2f}",
            # crisis people all score 1: what orders them is the rules met (then contacts)
            "why_ranked": crisis_summary(met, rules) if met else ("crisis rules met" if crisis else
                                                                  f"score {float(r['score']):.2f}"),
            "reason_list": [x for x in str(r.get("reasons") or "").split("; ") if x],
            "agency_list": [AGENCY_LABELS.get(a, a) for a in str(r.get("agencies") or "").split("; ") if a],
            "timeline": timeline(timelines.get(r["person_id"], empty), as_of),
            # the costs stage's figures: estimates at the table's prices, never an invoice
            "household_cost": ("" if _blank(r.get("household_cost_12m_gbp")) else
                               household_cost_text(r["household_cost_12m_gbp"], r.get("household_cost_prev_12m_gbp"),
                                                   price_year)),
            "cost_sentence": (costs or {}).get(r["person_id"], ""),
            "priority_list": [x for x in str(r.get("priorities") or "").split("; ") if x and x != "nan"],
        })
    return out


def _blank(value) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value))


def priority_sections(cfg: PlaceConfig, people: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The place's priorities, in configuration order, each with the listed people under it (the page's filter)."""
    return [{"id": p.id, "name": p.name,
             "people": [q for q in people if p.id in q.get("priority_list", ())]} for p in cfg.priorities]


def freshness_rows(freshness: list[SourceFreshness]) -> list[dict[str, Any]]:
    return [{"source": f.source, "last": f.last_accepted.isoformat() if f.last_accepted else "never",
             "stale": f.stale, "status": f.status, "why": f.why} for f in freshness]


def changes(people: list[dict[str, Any]], t: TeamLists) -> dict[str, Any]:
    """What changed against the team's previous list: who is new, up, down, the same, and how many dropped off."""
    by = {k: [p for p in people if p["change"] == k] for k in ("new", "up", "down", "same")}
    return {**by, "dropped": len(t.dropped), "first": not t.previous_published}


def team_context(cfg: PlaceConfig, run_id: str, as_of: date, t: TeamLists, freshness: list[SourceFreshness],
                 timelines: dict[str, Weeks], files: dict[str, str], notices: list[str] = (),
                 facts: ListFacts | None = None, costs: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything the team's page shows, for this team's people only (the template lays it out).

    `costs`: each listed person's cost sentence (`cost_sentences`), when the night costed them.
    """
    refs, rules = team_refs(t), len(cfg.rules)
    facts = facts or list_facts(cfg, run_id, as_of, freshness)
    price_year = cfg.costs.price_year if cfg.costs else ""
    people = _people(t.listed, timelines, as_of, refs, rules, price_year, costs)
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
    for i, h in enumerate(households):
        h["already_working"] = aw_by_household.get(h["household_id"], []) if h["household_id"] else []
        h["first_of_tier"] = i == 0 or households[i - 1]["tier"] != h["tier"]
    tiers = {tier: {"households": sum(h["tier"] == tier for h in households),
                    "people": sum(len(h["members"]) for h in households if h["tier"] == tier)}
             for tier in ("crisis", "wobbling")}
    return {
        "place": cfg.place, "team": t.team, "run_id": run_id, "as_of": as_of.isoformat(),
        "written_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "capacity": t.capacity, "counts": t.counts, "first_list": not t.previous_published,
        "households": households, "tiers": tiers, "changes": changes(people, t),
        "already_working": _people(t.already_working, timelines, as_of, refs, rules, price_year),
        "snoozed": _people(t.snoozed, timelines, as_of, refs, rules, price_year),
        "priorities": priority_sections(cfg, people),
        "costed": any(p["household_cost"] for p in people), "price_year": price_year,
        "unit_costs": cfg.costs.source_text if cfg.costs else "",
        "dropped": [{**d, "ref": refs[d["person_id"]]} for d in t.dropped.to_dict("records")],
        "freshness": freshness_rows(freshness), "about": sentences(facts, cfg.suppression),
        "timeline_from": timeline_span(as_of)[0], "timeline_to": timeline_span(as_of)[1],
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
                      notices: list[str] = (), facts: ListFacts | None = None) -> list[dict]:
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
    facts = facts or list_facts(cfg, run_id, as_of, freshness)
    book = write_workbook(folder / f"{t.team}.xlsx", t, cfg, run_id, as_of, freshness, facts, team_refs(t))
    note(book, len(t.listed))
    about = write_private_text(folder / TEXT_NAME, as_text(facts, cfg.suppression, t.team))
    note(about, None)
    shown = [pid for f in (t.listed, t.already_working, t.snoozed) for pid in f["person_id"]]
    note(write_private_text(folder / TIMELINES_FILE, timelines_json(as_of, shown, timelines)), len(shown))
    files = {"list": own_list.name, "workbook": book.name, "about": about.name, **SECTION_FILES}
    with connect(cfg) as con:
        costs = cost_sentences(con, cfg, t.listed["person_id"]) if "cost_12m_gbp" in t.listed else {}
    page = render("team_report.html.j2",
                  team_context(cfg, run_id, as_of, t, freshness, timelines, files, notices, facts, costs))
    note(write_private_text(folder / "report.html", page), None)
    return written
