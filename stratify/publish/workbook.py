"""A team's list as an Excel workbook: a sheet per tier, then the other sections and an "About" sheet.

Households are never split across sheets: a household goes to the sheet of
its highest-ranked member's tier (so a wobbling member of a household led
by someone in crisis is on the Crisis sheet, with their own tier in the tier
column), and the two sheets read in order give the ranked list exactly.

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
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from stratify.contract import load_contract
from stratify.files.permissions import FILE_MODE
from stratify.lists.rank import EXTRA_COLUMNS, TeamLists, frame_records
from stratify.publish.validation_page import SourceFreshness

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HEADER_FILL = PatternFill("solid", fgColor="DDE3EA")
WRAPPED = {"reasons", "detail", "note"}
NUMBERS = ("score", "previous_score")  # shown with four decimals
BOLD = Font(bold=True)
TOP, WRAPPED_TOP = Alignment(vertical="top"), Alignment(wrap_text=True, vertical="top")
MAX_WIDTH, MIN_WIDTH = 70, 8


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
    """Header row (bold, frozen), one row per record, widths from the content, long text wrapped."""
    for j, name in enumerate(columns, start=1):
        c = put(ws, 1, j, name)
        c.font = BOLD
        c.fill = HEADER_FILL
    ws.freeze_panes = "A2"
    records = frame_records(frame, columns)
    column_style = {}  # name -> the style of the column's data cells, set once through openpyxl
    for i, rec in enumerate(records, start=2):
        for j, name in enumerate(columns, start=1):
            value = rec[name]
            if name in NUMBERS and value is not None and not pd.isna(value):
                value = round(float(value), 4)
            c = ws.cell(row=i, column=j)
            style = column_style.get(name)
            if style is None:
                if name in NUMBERS:
                    c.number_format = "0.0000"
                c.alignment = WRAPPED_TOP if name in WRAPPED else TOP
                column_style[name] = copy(c._style)
            else:  # openpyxl's own way of giving a cell another cell's style (hashing each style per cell was slow)
                c._style = copy(style)
            put(ws, i, j, value)  # after the style: it may quote-prefix this one cell
    if not records:
        put(ws, 2, 1, empty_text)
    for j, name in enumerate(columns, start=1):
        longest = max([len(name)] + [len(str(r[name])) for r in records if r[name] is not None])
        ws.column_dimensions[get_column_letter(j)].width = max(MIN_WIDTH, min(MAX_WIDTH, longest + 2))
    if records:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(records) + 1}"


def list_columns() -> list[str]:
    return list(load_contract().list_columns) + [c for c in EXTRA_COLUMNS if c not in load_contract().list_columns]


def write_workbook(path: Path, t: TeamLists, place: str, run_id: str, as_of: date,
                   freshness: list[SourceFreshness]) -> Path:
    """`<team>.xlsx`: Crisis, Wobbling (by household lead), Already working, Snoozed, Dropped, About."""
    wb = Workbook()
    cols = list_columns()
    lead = t.listed["household_tier"] if "household_tier" in t.listed else t.listed["tier"]
    sheets = [
        ("Crisis", t.listed[lead == "crisis"], cols, "Nobody in crisis is listed tonight."),
        ("Wobbling", t.listed[lead == "wobbling"], cols, "Nobody wobbling is listed tonight."),
        ("Already working", t.already_working,
         ["person_id", "household_id", "tier", "score", "reasons", "agencies", "outcome", "outcome_date"], "Nobody."),
        ("Snoozed", t.snoozed,
         ["person_id", "household_id", "tier", "score", "outcome", "outcome_date", "until"], "Nobody."),
        ("Dropped", t.dropped,
         ["person_id", "household_id", "previous_rank", "previous_tier", "previous_score", "reason", "detail"],
         "Nobody dropped off." if t.previous_published else "This is the team's first list."),
    ]
    first = True
    for title, frame, columns, empty in sheets:
        ws = wb.active if first else wb.create_sheet()
        first = False
        ws.title = title
        write_sheet(ws, frame, columns, empty)
    about = wb.create_sheet("About")
    facts = [
        ("team", t.team), ("place", place), ("data up to", as_of.isoformat()), ("run", run_id),
        ("written", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")), ("capacity", t.capacity),
        ("order", "crisis first, then wobbling by score; a household stands where its highest-ranked member "
                  "stands and is on the sheet of that member's tier"),
        ("change", "new / up / down / same against the team's previous list"),
    ] + [(f"source {f.source}", f"{f.status}; last accepted "
                                f"{f.last_accepted.isoformat() if f.last_accepted else 'never'}") for f in freshness]
    write_sheet(about, pd.DataFrame(facts, columns=["item", "value"]), ["item", "value"], "")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)  # 0o640 from the moment it exists
    os.fchmod(fd, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        wb.save(fh)
    return path
