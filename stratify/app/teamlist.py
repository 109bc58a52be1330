"""A team's list and a person's page as the app shows them: filters, households, timelines, reviews.

Everything comes from one published run (`published.TeamView`) and is
formatted by the team page's own code (`pages.people` calls
`team_page._people`, which draws each timeline with the team page's
`timeline`), so the app and the exported `report.html` say the same thing.
The filters (tier, change, agency and, where the place has priorities, the
list's `priorities` column) are the query string of a plain GET form (no
script), applied on the server: each value must be one the page offers, else
`FilterRefused`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from stratify.app import pages
from stratify.app.published import TeamView
from stratify.config import PlaceConfig

TIERS = ("crisis", "wobbling")
CHANGES = ("new", "up", "down", "same")


class FilterRefused(ValueError):
    """A filter value the page does not offer (the message names the filter and what it may be)."""


def filter_choices(cfg: PlaceConfig) -> dict[str, list[tuple[str, str]]]:
    """Each filter's (value, label) choices, in the order the form shows them.

    `priority` is there when the place configures priorities (`priorities:`),
    its choices the place's priority ids, labelled by name.
    """
    choices = {"tier": [(t, t) for t in TIERS], "change": [(c, c) for c in CHANGES],
               "agency": list(pages.AGENCY_LABELS.items())}
    if cfg.priorities:
        choices["priority"] = [(p.id, p.name) for p in cfg.priorities]
    return choices


def chosen_filters(cfg: PlaceConfig, asked: dict[str, str]) -> dict[str, str]:
    """The filters asked for, each checked against the choices (an empty value: no filter)."""
    choices = filter_choices(cfg)
    chosen = {k: asked.get(k, "") or "" for k in choices}
    for k, v in chosen.items():
        allowed = [value for value, _ in choices[k]]
        if v and v not in allowed:
            raise FilterRefused(f"{k} must be one of {', '.join(allowed)}")
    return chosen


def _has(column: pd.Series, value: str) -> pd.Series:
    """Whether a `; `-separated list column (agencies, priorities) holds the value, row by row."""
    return column.fillna("").map(lambda cell: value in str(cell).split("; "))


def apply_filters(listed: pd.DataFrame, chosen: dict[str, str]) -> pd.DataFrame:
    """The rows of the ranked list that match every chosen filter, in rank order."""
    keep = pd.Series(True, index=listed.index)
    if chosen.get("tier"):
        keep &= listed["tier"] == chosen["tier"]
    if chosen.get("change"):
        keep &= listed["change"] == chosen["change"]
    if chosen.get("agency"):
        keep &= _has(listed["agencies"], chosen["agency"])
    if chosen.get("priority"):  # a list published without the costs stage's column matches nobody
        keep &= _has(listed["priorities"], chosen["priority"]) if "priorities" in listed else False
    return listed[keep]


def households(shown: list[dict]) -> list[dict]:
    """Consecutive members of one household, as on the team's report."""
    out: list[dict] = []
    for p in shown:
        if not out or out[-1]["rank"] != p["household_rank"]:
            out.append({"rank": p["household_rank"], "tier": p["tier"], "members": [],
                        "household_id": p["household_id"], "registered": p["household_members"]})
        out[-1]["members"].append(p)
    return out


def list_context(cfg: PlaceConfig, view: TeamView, chosen: dict[str, str], reviews: dict[str, dict]) -> dict[str, Any]:
    """What the team's list page shows: the filtered households, the sections, the filters, the legend."""
    rules = len(cfg.rules)
    shown = pages.people(apply_filters(view.listed, chosen), view.as_of, view.refs, rules, view.timelines)
    for p in shown:
        p["review"] = reviews.get(p["person_id"])
    return {
        "people": shown, "households": households(shown), "filters": filter_choices(cfg), "chosen": chosen,
        "already_working": pages.people(view.already_working, view.as_of, view.refs, rules, view.timelines),
        "snoozed": pages.people(view.snoozed, view.as_of, view.refs, rules, view.timelines),
        "dropped": [{**d, "ref": view.refs.get(d["person_id"], d["person_id"])} for d in view.dropped.to_dict("records")],
        "total": len(view.listed), "legend": pages.timeline_legend(view.as_of), "has_timelines": bool(view.timelines),
    }


def person_shown(cfg: PlaceConfig, view: TeamView, person_id: str, part: str, row: dict) -> dict[str, Any]:
    """One person as the page of their part shows them (a dropped person: the row that says why)."""
    if part == "dropped":
        return {**row, "ref": view.refs[person_id]}
    frame = getattr(view, part)
    return pages.people(frame[frame["person_id"] == person_id], view.as_of, view.refs, len(cfg.rules),
                        view.timelines)[0]
