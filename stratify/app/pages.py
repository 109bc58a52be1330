"""Rendering the app's pages: its own templates, beside the team page's, with the team page's wording.

One Jinja environment (autoescape on for every template, undefined names
an error) loads the app's templates first and then the package's, so the
app's pages import the team page's partials (`_timeline.html.j2`) instead
of copying them; a listed person's fields are formatted by the team page's
own `team_page._people`, so the app and the published page never disagree.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from stratify.publish import team_page
from stratify.resources import TEMPLATES_DIR

AGENCY_LABELS = team_page.AGENCY_LABELS
APP_TEMPLATES = Path(__file__).with_name("templates")
STATIC = {"app.css": APP_TEMPLATES / "app.css", "team_report.css": TEMPLATES_DIR / "team_report.css"}


@lru_cache(maxsize=1)
def environment():
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined

    return Environment(loader=ChoiceLoader([FileSystemLoader(str(APP_TEMPLATES)), FileSystemLoader(str(TEMPLATES_DIR))]),
                       autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def people(frame: pd.DataFrame, as_of: date, refs: dict[str, str], rules: int,
           timelines: dict[str, team_page.Weeks]) -> list[dict]:
    """The rows of a list or section as the team page shows them (score, reasons, agencies, references, timeline).

    `rules`: how many crisis rules the place has ("meets 2 of 4 crisis rules");
    `timelines`: the run's published weeks (`published.TeamView.timelines`),
    drawn by the team page's own `timeline` into the same SVG.
    """
    if frame.empty:
        return []
    return team_page._people(frame, timelines, as_of, {pid: refs.get(pid, pid) for pid in frame["person_id"]}, rules)


def timeline_legend(as_of: date) -> dict[str, Any]:
    """What the timelines' legend says: the span in the team page's words, each agency's label and colour."""
    start, end = team_page.timeline_span(as_of)
    return {"from": start, "to": end, "agencies": [(AGENCY_LABELS[a], c) for a, c in team_page.AGENCY_COLOURS.items()]}

