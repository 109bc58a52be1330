"""What changed since the team's previous published list: `new`/`up`/`down`/`same`, and who dropped off and why."""

from __future__ import annotations

import pandas as pd

from stratify.config import ListsConfig
from stratify.lists.rank import tier_level


def change_against(current: pd.DataFrame, previous: pd.DataFrame | None) -> list[str]:
    """`new`, `up`, `down` or `same` for each row, against the team's previous list.

    Moving from wobbling to crisis is `up` whatever the rank; otherwise a
    smaller rank number is `up`.
    """
    if previous is None or previous.empty:
        return ["new"] * len(current)
    prev = {pid: (tier, int(rank)) for pid, tier, rank in zip(previous["person_id"], previous["tier"], previous["rank"])}
    out = []
    for pid, tier, rank in zip(current["person_id"], current["tier"], current["rank"]):
        if pid not in prev:
            out.append("new")
            continue
        ptier, prank = prev[pid]
        if ptier != tier:
            out.append("up" if tier_level(tier) > tier_level(ptier) else "down")
        else:
            out.append("up" if int(rank) < prank else "down" if int(rank) > prank else "same")
    return out


def dropped_people(team: str, capacity: int, previous: pd.DataFrame | None, listed: pd.DataFrame,
                   status: pd.DataFrame, sections: pd.DataFrame, rules: ListsConfig) -> pd.DataFrame:
    """Who was on the team's previous list and is not on tonight's, and why (the first reason that applies).

    `status`: person_id, team, died, tier, score for the previous list's
    people (absent = no longer on the register as listable). `sections`:
    this team's `outcome_sections`. Reasons: `died`, `left the register`,
    `moved team`, `wrong person`, `moved away`, `outcome recorded`, `score fell`, `below capacity`.
    """
    cols = ["person_id", "household_id", "previous_rank", "previous_tier", "previous_score", "reason", "detail"]
    if previous is None or previous.empty:
        return pd.DataFrame(columns=cols)
    gone = previous[~previous["person_id"].isin(set(listed["person_id"]))]
    st = status.set_index("person_id") if not status.empty else pd.DataFrame(columns=["team", "died", "tier", "score"])
    sec = sections.set_index("person_id") if not sections.empty else pd.DataFrame(columns=["section", "outcome", "outcome_date", "until"])
    rows = []
    for p in gone.itertuples(index=False):
        prev_score = float(p.score) if str(p.score) not in ("", "nan") else float("nan")
        reason, detail = _drop_reason(team, capacity, p.person_id, p.tier, prev_score, st, sec, rules)
        rows.append({"person_id": p.person_id, "household_id": p.household_id if isinstance(p.household_id, str) else "",
                     "previous_rank": int(p.rank), "previous_tier": p.tier, "previous_score": prev_score,
                     "reason": reason, "detail": detail})
    return pd.DataFrame(rows, columns=cols)


def _drop_reason(team: str, capacity: int, pid: str, prev_tier: str, prev_score: float, st: pd.DataFrame,
                 sec: pd.DataFrame, rules: ListsConfig) -> tuple[str, str]:
    if pid not in st.index:
        return "left the register", "no longer on the person register as someone who can be listed"
    s = st.loc[pid]
    if bool(s["died"]):
        return "died", "the register records a date of death"
    if s["team"] != team:
        return "moved team", (f"latest register address is in team {s['team']}'s area" if isinstance(s["team"], str)
                              else "latest register address is in no team's area")
    if pid in sec.index and sec.loc[pid, "section"] != "listed":
        when = pd.Timestamp(sec.loc[pid, "outcome_date"]).date().isoformat()
        outcome = str(sec.loc[pid, "outcome"]).replace("_", " ")
        if sec.loc[pid, "outcome"] == "wrong_person":
            return "wrong person", (f"wrong person recorded on {when}: the records under this pseudonym are not one "
                                    "person (a linkage problem); off every list until the register or a later "
                                    "outcome changes")
        if sec.loc[pid, "outcome"] == "moved_away":
            return "moved away", (f"moved away recorded on {when}; off this team's list until a register row shows "
                                  "where they live now")
        if sec.loc[pid, "section"] == "already_working":
            return "outcome recorded", f"{outcome} on {when}: now under 'already working with'"
        return "outcome recorded", f"{outcome} on {when}: snoozed until {pd.Timestamp(sec.loc[pid, 'until']).date().isoformat()}"
    now_tier = s["tier"] if isinstance(s["tier"], str) else ""
    now_score = float(s["score"]) if pd.notna(s["score"]) else float("nan")
    if not now_tier:
        was = "no crisis rule is met any more; " if prev_tier == "crisis" else ""
        return "score fell", f"{was}score {_fmt(prev_score)} -> {_fmt(now_score)}, below the wobbling threshold"
    if tier_level(now_tier) < tier_level(prev_tier):
        return "score fell", f"no crisis rule is met any more; now wobbling, score {_fmt(now_score)}"
    if now_score < prev_score:
        return "score fell", f"score {_fmt(prev_score)} -> {_fmt(now_score)}: now ranked below the list's capacity ({capacity})"
    return "below capacity", f"others now rank higher (score {_fmt(now_score)}); the list holds {capacity} people"


def _fmt(x: float) -> str:
    return "unknown" if x != x else f"{x:.2f}"
