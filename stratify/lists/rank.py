"""A team's ranked list: people in order, households together, capacity in people.

Each rule is a pure function over DataFrames (unit- and property-tested in
`tests/test_lists.py`).

1. People are ordered: the crisis tier first (most crisis rules met, then
   most contacts in 90 days, then score), then the wobbling tier by score;
   ties by pseudonym, so a list is reproducible.
2. One plan per family: people sharing a `household_id` are listed together,
   the household placed where its highest-ranked member would be, members in
   person order. So a wobbling member follows a crisis member of their
   household; every household led by someone in crisis still comes before
   every household led by someone wobbling.
3. Capacity counts people. Households are taken whole, in order; the first
   household that does not fit ends the list (a smaller, lower-risk
   household is never moved up past it). Only a household larger than the
   whole capacity is cut, to its highest-ranked members.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TIERS = ("crisis", "wobbling")
TIER_LEVEL = {"crisis": 2, "wobbling": 1, "": 0}


def tier_level(tier: str | None) -> int:
    """crisis 2 > wobbling 1 > not tiered 0: the order in which risk `rises a tier`."""
    return TIER_LEVEL.get(tier or "", 0)


def order_people(candidates: pd.DataFrame) -> pd.DataFrame:
    """Candidates in person order (column `person_order`, 1 = first): crisis by severity, then wobbling by score.

    `candidates` needs person_id, tier, score, severity; people without a tier are left out.
    """
    c = candidates[candidates["tier"].isin(TIERS)].copy()
    c["_tier"] = c["tier"].map({"crisis": 0, "wobbling": 1})
    c["_severity"] = np.where(c["tier"] == "crisis", c["severity"].fillna(0), 0)
    c = c.sort_values(["_tier", "_severity", "score", "person_id"], ascending=[True, False, False, True],
                      kind="mergesort")
    c["person_order"] = np.arange(1, len(c) + 1)
    return c.drop(columns=["_tier", "_severity"]).reset_index(drop=True)


def household_key(frame: pd.DataFrame) -> pd.Series:
    """The household a row is planned with: its `household_id`, or the person alone when none is known."""
    hh = frame["household_id"].fillna("").astype(str)
    return pd.Series(np.where(hh != "", "h:" + hh, "p:" + frame["person_id"].astype(str)), index=frame.index)


def group_households(ordered: pd.DataFrame) -> pd.DataFrame:
    """Rows regrouped by household, each household where its highest-ranked member stands.

    Adds `household_rank` (1 = first household) and `household_tier` (the
    tier of the household's first member). Input: the output of `order_people`.
    """
    if ordered.empty:
        return ordered.assign(household_rank=pd.Series(dtype="int64"), household_tier=pd.Series(dtype=object))
    key = household_key(ordered)
    lead = ordered.groupby(key)["person_order"].transform("min")
    out = ordered.assign(_key=key, _lead=lead).sort_values(["_lead", "person_order"], kind="mergesort")
    out["household_rank"] = out["_lead"].rank(method="dense").astype("int64")
    out["household_tier"] = out.groupby("_key")["tier"].transform("first")
    return out.drop(columns=["_lead"]).reset_index(drop=True)


def cap_households(grouped: pd.DataFrame, capacity: int) -> pd.DataFrame:
    """The first households, whole, holding at most `capacity` people, ranked 1..n (column `rank`).

    The first household that does not fit ends the list; only when it is the
    very first (a household larger than the capacity) are its highest-ranked
    members listed, up to the capacity.
    """
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1, got {capacity}")
    if grouped.empty:
        return grouped.assign(rank=pd.Series(dtype="int64"), household_listed=pd.Series(dtype="int64"))
    sizes = grouped.groupby("household_rank", sort=True).size()
    fits = sizes.index[sizes.cumsum() <= capacity]
    kept = grouped[grouped["household_rank"].isin(fits)] if len(fits) else grouped.head(capacity)
    kept = kept.copy()
    kept.insert(0, "rank", np.arange(1, len(kept) + 1))
    kept["household_listed"] = kept.groupby("household_rank")["person_id"].transform("size").astype("int64")
    return kept.reset_index(drop=True)


def rank_team(candidates: pd.DataFrame, capacity: int) -> pd.DataFrame:
    """A team's ranked list from its listable candidates: order, group by household, cap."""
    return cap_households(group_households(order_people(candidates)), capacity)
