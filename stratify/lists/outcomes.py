"""The team's own outcomes: who tonight goes under "already working with" or "snoozed" instead of the list.

A status outcome (`engaged`/`already_supported`, `declined`/`not_appropriate`;
the latest of those four counts) recorded by the person's current team
within `lists.already_working_days` moves the person to "already working
with"; within `lists.snooze_days` it snoozes them unless their tier is now
higher than when the team recorded it.

Two outcomes take a person off the list altogether (section `withdrawn`,
shown only as a drop-off): `wrong_person` (recorded by any team: the
records joined under the pseudonym are not one person, a linkage problem)
until a register row or a later outcome changes the data, and `moved_away`
(recorded by this team) until a register row shows where they live now;
list_outcomes.sql decides when each is in force. `contacted` changes
nothing but is shown as the person's last outcome, as any outcome is.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from stratify.config import ListsConfig
from stratify.lists.history import history_by_person
from stratify.lists.rank import tier_level

ALREADY_WORKING = ("engaged", "already_supported")
SNOOZING = ("declined", "not_appropriate")
STATUS_OUTCOMES = ALREADY_WORKING + SNOOZING
WITHDRAWING = ("wrong_person", "moved_away")  # off the list while in force (list_outcomes.sql: `withdrawn`)


def days_between(later: date, earlier: date) -> int:
    return (pd.Timestamp(later) - pd.Timestamp(earlier)).days


def snooze_baseline(history: pd.DataFrame, outcome_date: date, current_tier: str) -> str:
    """The tier a person had when the team declined them: what their risk must rise above to come back.

    `history` is this person's rows in this team's published lists (as_of,
    published_at, tier). The last published run on or before the outcome's
    date is what the team saw; failing that, the first run after it (the run
    that first snoozed them); failing that, tonight's tier.
    """
    if history.empty:
        return current_tier
    h = history.sort_values(["as_of", "published_at"], kind="mergesort")
    return _tier_seen(pd.to_datetime(h["as_of"]).to_numpy(), h["tier"].to_numpy(), outcome_date)


def _tier_seen(runs_as_of: np.ndarray, tiers: np.ndarray, outcome_date) -> str:
    """`snooze_baseline` over one person's rows, already in (as_of, published_at) order, as arrays."""
    before = np.flatnonzero(runs_as_of <= pd.Timestamp(outcome_date).to_datetime64())
    return str(tiers[before[-1]] if before.size else tiers[0])


def outcome_sections(candidates: pd.DataFrame, outcomes: pd.DataFrame, history: pd.DataFrame,
                     rules: ListsConfig, as_of: date) -> pd.DataFrame:
    """Per candidate: `listed`, `already_working` or `snoozed`, with the outcome and a note for the team.

    `candidates`: person_id, tier (this team's tiered people). `outcomes`:
    person_id, status_outcome, status_date, last_outcome, last_date and
    (optionally) withdrawn, withdrawn_date (this team's; see list_outcomes.sql). `history`: person_id, as_of,
    published_at, tier (this team's previous published lists).
    Returns person_id, section (`listed`, `already_working`, `snoozed` or
    `withdrawn`), outcome, outcome_date, until, note.
    """
    out = pd.DataFrame({"person_id": candidates["person_id"].to_numpy(), "tier": candidates["tier"].to_numpy()})
    out = out.merge(outcomes, on="person_id", how="left")
    section, until, note = ["listed"] * len(out), [None] * len(out), [""] * len(out)
    statuses = out["status_outcome"].to_numpy(object)
    has_status = np.flatnonzero(out["status_outcome"].map(lambda v: isinstance(v, str)).to_numpy(bool)
                                & out["status_date"].notna().to_numpy())
    by_person = history_by_person(history) if len(has_status) else {}
    pids, tiers, dates = out["person_id"].to_numpy(), out["tier"].to_numpy(), out["status_date"].to_numpy(object)
    for i in has_status:  # only people with a status outcome can leave the list
        status, when, tier = statuses[i], dates[i], tiers[i]
        age = days_between(as_of, when)
        if status in ALREADY_WORKING and age < rules.already_working_days:
            section[i] = "already_working"
        elif status in SNOOZING and age < rules.snooze_days:
            seen = by_person.get(pids[i])
            was = _tier_seen(*seen, when) if seen is not None else tier
            if tier_level(tier) > tier_level(was):
                note[i] = (f"{status.replace('_', ' ')} on {pd.Timestamp(when).date().isoformat()}; "
                           f"back on the list: risk rose from {was or 'not listed'} to {tier}")
            else:
                section[i], until[i] = "snoozed", pd.Timestamp(when).date() + timedelta(days=rules.snooze_days)
    outcome = out["status_outcome"].where(pd.Series(section) != "listed", out["last_outcome"])
    outcome_date = out["status_date"].where(pd.Series(section) != "listed", out["last_date"])
    off = out["withdrawn"].isin(WITHDRAWING).to_numpy(bool) if "withdrawn" in out.columns else np.zeros(0, bool)
    if off.any():  # in force: it outranks every status outcome
        for i in np.flatnonzero(off):
            section[i], until[i], note[i] = "withdrawn", None, ""
        outcome = outcome.astype(object).where(~off, out["withdrawn"].astype(object))
        outcome_date = outcome_date.astype(object).where(~off, out["withdrawn_date"].astype(object))
    return pd.DataFrame({
        "person_id": out["person_id"], "section": section, "outcome": outcome, "outcome_date": outcome_date,
        "until": until, "note": note,
    })
