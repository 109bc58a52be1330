"""One team's lists tonight, put together: the ranked list, its sections, the change and the drop-offs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from stratify.config import ListsConfig
from stratify.lists.change import change_against, dropped_people
from stratify.lists.outcomes import outcome_sections
from stratify.lists.rank import TIERS, rank_team

# The contract's columns first (stratify/contract.yaml: published_list), then ours.
# cost_12m_gbp, assessments_12m, priorities: the contract's optional columns, from the costs stage.
EXTRA_COLUMNS = ("cost_12m_gbp", "assessments_12m", "priorities", "household_rank", "household_listed", "household_members", "last_outcome", "last_outcome_date",
                 "note")
SECTION_COLUMNS = ("person_id", "household_id", "tier", "score", "reasons", "agencies", "outcome", "outcome_date")
# What `TeamLists.counts` holds, in this order.
COUNT_KEYS = ("listed_crisis", "listed_wobbling", "already_working", "snoozed", "dropped", "new",
              "over_capacity_crisis", "over_capacity_wobbling")


@dataclass
class TeamLists:
    """Everything one team is shown tonight (each frame holds only this team's people)."""

    team: str
    capacity: int
    listed: pd.DataFrame  # the ranked list: contract columns + EXTRA_COLUMNS (+ severity, tier order helpers)
    already_working: pd.DataFrame  # SECTION_COLUMNS: the team recorded engaged / already_supported recently
    snoozed: pd.DataFrame  # SECTION_COLUMNS + `until`: declined / not_appropriate recently, risk not risen
    dropped: pd.DataFrame  # on the previous list, not on this one: previous rank/tier/score, reason, detail
    previous_published: bool = False  # False on a team's first list: every row is `new`
    counts: dict[str, int] = field(default_factory=dict)
    withdrawn: dict[str, int] = field(default_factory=dict)  # people off the list tonight by outcome (rank's summary)


def build_team_lists(team: str, capacity: int, candidates: pd.DataFrame, outcomes: pd.DataFrame,
                     history: pd.DataFrame, previous: pd.DataFrame | None, status: pd.DataFrame,
                     rules: ListsConfig, as_of: date) -> TeamLists:
    """One team's ranked list, already-working and snoozed sections, and drop-offs (pure).

    `candidates`: this team's tiered people from list_candidates.sql.
    `previous`: the team's previous published list (None before the first).
    """
    candidates = candidates[candidates["tier"].isin(TIERS)]
    sections = outcome_sections(candidates, outcomes, history, rules, as_of)
    with_sec = candidates.merge(sections, on="person_id", how="left")
    listable = with_sec[with_sec["section"] == "listed"]
    listed = rank_team(listable, capacity)
    listed["change"] = change_against(listed, previous)
    listed["last_outcome"] = listed["outcome"].fillna("")
    listed["last_outcome_date"] = listed["outcome_date"].map(_iso)
    listed["note"] = listed["note"].fillna("")
    section_order = ["tier_order", "score"]

    def section(name: str) -> pd.DataFrame:
        s = with_sec[with_sec["section"] == name].copy()
        s["tier_order"] = s["tier"].map({"crisis": 0, "wobbling": 1})
        s = s.sort_values(section_order + ["person_id"], ascending=[True, False, True], kind="mergesort")
        s["outcome_date"] = s["outcome_date"].map(_iso)
        s["until"] = s["until"].map(_iso)
        return s.drop(columns=["tier_order"]).reset_index(drop=True)

    already, snoozed = section("already_working"), section("snoozed")
    dropped = dropped_people(team, capacity, previous, listed, status, sections, rules)
    counts = {  # the keys of COUNT_KEYS
        "listed_crisis": int((listed["tier"] == "crisis").sum()),
        "listed_wobbling": int((listed["tier"] == "wobbling").sum()),
        "already_working": len(already), "snoozed": len(snoozed), "dropped": len(dropped),
        "new": int((listed["change"] == "new").sum()),
        # tiered, no outcome taking them off, and not listed: the list was full (the overview's unmet need)
        "over_capacity_crisis": int((listable["tier"] == "crisis").sum()) - int((listed["tier"] == "crisis").sum()),
        "over_capacity_wobbling": int((listable["tier"] == "wobbling").sum()) - int((listed["tier"] == "wobbling").sum()),
    }
    off = sections.loc[sections["section"] == "withdrawn", "outcome"].value_counts()
    return TeamLists(team, capacity, listed, already, snoozed, dropped,
                     previous_published=previous is not None, counts=counts,
                     withdrawn={str(k): int(v) for k, v in off.items()})


def _iso(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return pd.Timestamp(value).date().isoformat()


def frame_records(frame: pd.DataFrame, columns: list[str] | None = None) -> list[dict]:
    """`frame.reindex(columns=columns).to_dict("records")` (a missing column is NaN), from one list per column.

    The same Python values (str, int, float, Timestamp, NaN...), without
    pandas' per-call cost: the pages and workbooks read a few small frames
    per team, and there are 75 teams at 3,000,000 people.
    """
    columns = list(frame.columns) if columns is None else columns
    n = len(frame)
    if not columns:
        return [{} for _ in range(n)]
    values = [frame[c].tolist() if c in frame.columns else [float("nan")] * n for c in columns]
    return [dict(zip(columns, row)) for row in zip(*values)]


def list_totals(teams: dict[str, TeamLists]) -> dict[str, int]:
    """The night's totals over all teams (listed, new, already working, snoozed, dropped), for the stage summaries."""
    keys = ("listed_crisis", "listed_wobbling", "new", "already_working", "snoozed", "dropped")
    return {k: sum(int(t.counts.get(k, 0)) for t in teams.values()) for k in keys}
