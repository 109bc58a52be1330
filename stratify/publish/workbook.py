"""A team's list as an Excel workbook: a sheet per tier, then the other sections and an "About" sheet.

Households are never split across sheets: a household goes to the sheet of
its highest-ranked member's tier (so a wobbling member of a household led
by someone in crisis is on the Crisis sheet, with their own tier in the tier
column), and the two sheets read in order give the ranked list exactly.

Every sheet prints on A4 landscape, fitted to the page's width, with its
header row repeated on each page and a header and footer saying what the
list is (it supports a professional's judgement and decides nothing), the
team, the data date and the page number. Identifier columns are narrow (the
full pseudonym is in the cell; `ref` is what people say aloud).

Nothing from data becomes a formula: every text cell is stored as a string
(`data_type` `s`), and text that begins with `=`, `+`, `-`, `@`, a tab or a
carriage return is also marked quote-prefixed, so Excel shows it as text and
does not evaluate it when the cell is edited (CSV/formula injection).
"""

from __future__ import annotations

import os
from copy import copy
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from stratify.config import PlaceConfig, SuppressionConfig
from stratify.contract import load_contract
from stratify.features.sentences import crisis_summary
from stratify.files.permissions import FILE_MODE
from stratify.lists.team import EXTRA_COLUMNS, TeamLists, frame_records
from stratify.publish.about_list import ListFacts, list_facts, sentences
from stratify.publish.people import crisis_rules_met, team_refs
from stratify.publish.validation_page import SourceFreshness

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HEADER_FILL = PatternFill("solid", fgColor="DDE3EA")
WRAPPED = {"reasons", "detail", "note", "why ranked", "agencies", "reason", "value", "priorities"}
NUMBERS = ("score", "previous_score")  # shown with four decimals
BOLD = Font(bold=True)
TOP, WRAPPED_TOP = Alignment(vertical="top"), Alignment(wrap_text=True, vertical="top")
MAX_WIDTH, MIN_WIDTH = 60, 6
# Columns kept narrow whatever their content: identifiers (the cell holds the whole value) and short codes.
FIXED_WIDTHS = {"person_id": 12, "household_id": 12, "ref": 7, "rank": 6, "agencies": 20, "note": 24, "detail": 45,
                "why ranked": 14, "household_rank": 9, "household_listed": 9, "household_members": 9,
                "cost_12m_gbp": 9, "assessments_12m": 7, "priorities": 10,  # the costs stage's columns
                "item": 20, "value": 110}  # the About sheet
HEADER = Alignment(wrap_text=True, vertical="bottom")


def style_array(cell: Cell) -> Any:
    """The one place that reads openpyxl's private per-cell style (`Cell._style`, a `StyleArray` of style ids).

    Giving each cell of a column the same style through the public
    attributes hashed every style for every cell (slow on long lists);
    copying the style array is openpyxl's own way of giving a cell another
    cell's style. `tests/test_team_report.py` fails if openpyxl changes it.
    """
    return copy(cell._style)


def set_style_array(cell: Cell, style: Any) -> None:
    """Give `cell` a style read by `style_array` (openpyxl's private `Cell._style`)."""
    cell._style = copy(style)


def put(ws: Worksheet, row: int, col: int, value: Any):
    """Write one cell; text is always a string cell, and text that Excel could read as a formula is quote-prefixed."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        value = None
    elif isinstance(value, (pd.Timestamp, datetime)):
        value = value.date().isoformat() if isinstance(value, pd.Timestamp) else value.isoformat()
    elif hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        value = value.item()
    cell = ws.cell(row=row, column=col)
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        cell.value = value
        cell.data_type = "s"  # openpyxl types a leading `=` as a formula; this stores it as text
        if value.startswith(FORMULA_STARTS):
            cell.quotePrefix = True
    else:
        cell.value = value
    return cell


def write_sheet(ws: Worksheet, frame: pd.DataFrame, columns: list[str], empty_text: str) -> None:
    """Header row (bold, frozen), one row per record, widths from the content, long text wrapped.

    Reasons are written one to a line. Row heights are set from the wrapped
    text (spreadsheet programs do not grow a row for text written by
    openpyxl), so nothing prints over the row below.
    """
    for j, name in enumerate(columns, start=1):
        c = put(ws, 1, j, name)
        c.font = BOLD
        c.fill = HEADER_FILL
        c.alignment = HEADER
    ws.freeze_panes = "A2"
    records = frame_records(frame, columns)
    column_style = {}  # name -> the style of the column's data cells, set once through openpyxl
    for i, rec in enumerate(records, start=2):
        for j, name in enumerate(columns, start=1):
            value = rec[name]
            if name in NUMBERS and value is not None and not pd.isna(value):
                value = round(float(value), 4)
            elif name == "reasons" and isinstance(value, str):
                value = value.replace("; ", "\n")
            c = ws.cell(row=i, column=j)
            style = column_style.get(name)
            if style is None:
                if name in NUMBERS:
                    c.number_format = "0.0000"
                c.alignment = WRAPPED_TOP if name in WRAPPED else TOP
                column_style[name] = style_array(c)
            else:
                set_style_array(c, style)
            put(ws, i, j, value)  # after the style: it may quote-prefix this one cell
    if not records:
        put(ws, 2, 1, empty_text)
    widths = {}
    for j, name in enumerate(columns, start=1):
        longest = max([min(len(name), 10)] + [len(str(r[name])) for r in records if r[name] is not None])
        widths[name] = FIXED_WIDTHS.get(name, max(MIN_WIDTH, min(MAX_WIDTH, longest + 2)))
        ws.column_dimensions[get_column_letter(j)].width = widths[name]
    ws.row_dimensions[1].height = LINE_PT * max(_lines(n, widths[n]) for n in columns) if columns else LINE_PT
    wrapped = [n for n in columns if n in WRAPPED]
    for i, rec in enumerate(records, start=2):
        lines = max([_lines(rec[n], widths[n], n == "reasons") for n in wrapped if rec[n] is not None] + [1])
        if lines > 1:
            ws.row_dimensions[i].height = LINE_PT * lines
    if records:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(records) + 1}"


LINE_PT = 15  # the height of a line of 11 pt text, in points


def _lines(value: Any, width: float, one_per_line: bool = False) -> int:
    """How many lines `value` takes wrapped in a column `width` units wide (a little pessimistic)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return 1
    parts = str(value).split("; " if one_per_line else "\n")
    per_line = max(1.0, (width - 1) * 1.1)  # as LibreOffice wraps Calibri 11: about 1.15 characters a width unit
    return sum(max(1, -(-len(p) // int(per_line))) for p in parts)


def print_setup(ws: Worksheet, header: str, footer: str) -> None:
    """A4 landscape, fitted to one page wide (as many pages long as it takes), header row on every page."""
    ws.page_setup.orientation = ws.ORIENTATION_LANDSCAPE
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.print_title_rows = "1:1"
    ws.print_options.gridLines = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.oddHeader.left.text, ws.oddHeader.left.size = header, 9
    ws.oddFooter.left.text, ws.oddFooter.left.size = footer, 8
    ws.oddFooter.right.text, ws.oddFooter.right.size = "page &P of &N", 8


def list_columns() -> list[str]:
    """The list sheets' columns: rank and the short reference, the contract's, the lists' own, then `why ranked`."""
    contract = list(load_contract().list_columns)
    rest = [c for c in contract if c != "rank"] + [c for c in EXTRA_COLUMNS if c not in contract]
    return ["rank", "ref", *rest[:rest.index("score") + 1], "why ranked", *rest[rest.index("score") + 1:]]


def _with_refs(frame: pd.DataFrame, refs: dict[str, str], rules: int) -> pd.DataFrame:
    """`ref` (the short reference said aloud) and `why ranked` (rules met in crisis, the score when wobbling)."""
    if frame.empty:
        return frame.assign(ref=pd.Series(dtype=object), **{"why ranked": pd.Series(dtype=object)})
    why = [crisis_summary(crisis_rules_met(sev), rules) if tier == "crisis" and sev == sev and sev is not None
           else f"score {float(score):.2f}" if tier == "wobbling" else ""
           for tier, sev, score in zip(frame["tier"], frame.get("severity", [None] * len(frame)), frame["score"])]
    return frame.assign(ref=frame["person_id"].map(refs), **{"why ranked": why})


def write_workbook(path: Path, t: TeamLists, place: str | PlaceConfig, run_id: str, as_of: date,
                   freshness: list[SourceFreshness], facts: ListFacts | None = None,
                   refs: dict[str, str] | None = None) -> Path:
    """`<team>.xlsx`: Crisis, Wobbling (by household lead), Already working, Snoozed, Dropped, About.

    `place`: the place's configuration (or only its name, with the default
    crisis rules and suppression); `facts`: what the About sheet says of the list.
    """
    from stratify.config import DEFAULT_RULES

    cfg = place if isinstance(place, PlaceConfig) else None
    name = cfg.place if cfg else str(place)
    rules = len(cfg.rules) if cfg else len(DEFAULT_RULES)
    sup = cfg.suppression if cfg else SuppressionConfig()
    refs = refs if refs is not None else team_refs(t)
    wb = Workbook()
    cols = list_columns()
    listed = _with_refs(t.listed, refs, rules)
    lead = listed["household_tier"] if "household_tier" in listed else listed["tier"]
    sheets = [
        ("Crisis", listed[lead == "crisis"], cols, "Nobody in crisis is listed tonight."),
        ("Wobbling", listed[lead == "wobbling"], cols, "Nobody wobbling is listed tonight."),
        ("Already working", _with_refs(t.already_working, refs, rules),
         ["ref", "person_id", "household_id", "tier", "score", "why ranked", "reasons", "agencies", "outcome",
          "outcome_date"], "Nobody."),
        ("Snoozed", _with_refs(t.snoozed, refs, rules),
         ["ref", "person_id", "household_id", "tier", "score", "outcome", "outcome_date", "until"], "Nobody."),
        ("Dropped", t.dropped.assign(ref=t.dropped["person_id"].map(refs)),
         ["ref", "person_id", "household_id", "previous_rank", "previous_tier", "previous_score", "reason", "detail"],
         "Nobody dropped off." if t.previous_published else "This is the team's first list."),
    ]
    header = f"Team {t.team}, {name}: supports a professional's judgement, decides nothing"
    footer = f"data up to {as_of.isoformat()}; run {run_id}; see the About sheet"
    first = True
    for title, frame, columns, empty in sheets:
        ws = wb.active if first else wb.create_sheet()
        first = False
        ws.title = title
        write_sheet(ws, frame, columns, empty)
        print_setup(ws, header, footer)
    facts = facts or (list_facts(cfg, run_id, as_of, freshness) if cfg else
                      ListFacts(place=name, run_id=run_id, as_of=as_of, rules=tuple(r.description for r in DEFAULT_RULES),
                                freshness=tuple(freshness)))
    about = wb.create_sheet("About")
    rows = about_rows(t, facts, sup)
    if cfg is not None and cfg.costs is not None and "cost_12m_gbp" in t.listed:  # where the figures come from
        rows.append(("cost_12m_gbp", f"estimated public cost of the person's interactions in the 365 days to "
                                     f"{as_of.isoformat()}, at {cfg.costs.price_year} prices, from "
                                     f"{cfg.costs.source_text}: unit costs, not an invoice"))
        rows.append(("assessments_12m", "assessments, referrals and front-door contacts across agencies in those days"))
        rows.append(("priorities", "the place's priorities the person falls under (filter the column to see one)"))
    write_sheet(about, pd.DataFrame(rows, columns=["item", "value"]), ["item", "value"], "")
    print_setup(about, header, footer)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)  # 0o640 from the moment it exists
    os.fchmod(fd, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        wb.save(fh)
    return path


def about_rows(t: TeamLists, facts: ListFacts, sup: SuppressionConfig) -> list[tuple[str, Any]]:
    """The About sheet: what the list is, its definitions, what a score means, model, data and freshness."""
    s = sentences(facts, sup)
    return [
        ("this list", s["supports"]), ("crisis", s["crisis"]),
        *[(f"crisis rule {i}", r) for i, r in enumerate(s["rules"], start=1)],
        ("wobbling", s["wobbling"]), *[("what a score means", x) for x in s["score_meaning"]],
        ("model", s["model"]), ("data", s["data"]),
        ("team", t.team), ("place", facts.place), ("run", facts.run_id),
        ("written", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")), ("capacity", t.capacity),
        ("order", "crisis first (most crisis rules met, then most contacts in 90 days), then wobbling by score; a "
                  "household stands where its highest-ranked member stands and is on the sheet of that member's tier"),
        ("ref", "the first characters of the pseudonym, enough to tell apart everyone on this team's list: say it "
                "aloud in the huddle; the full pseudonym is in person_id"),
        ("change", "new / up / down / same against the team's previous list"),
        *[("source", x) for x in s["freshness"]],
    ]
