"""What each neighbourhood team's list holds tonight, and why: ranking, households, outcomes, change.

A team lead reads the list before the morning huddle, so the rules are few
and each one is a pure function over DataFrames (unit- and property-tested in
`tests/test_lists.py`); only the `load_*`/`explain_*` functions at the end
touch the warehouse.

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
4. The team's own outcomes: a status outcome (`engaged`/`already_supported`,
   `declined`/`not_appropriate`; the latest of those four counts) recorded by
   the person's current team within `lists.already_working_days` moves the
   person to "already working with"; within `lists.snooze_days` it snoozes
   them unless their tier is now higher than when the team recorded it.
5. Change against the team's previous published list (`new`/`up`/`down`/
   `same`), and who dropped off since, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from stratify.config import ListsConfig, PlaceConfig
from stratify.run.context import RunContext
from stratify.warehouse.database import SQL_DIR, connect, fetch_one, read_sql, run_sql_file

TIERS = ("crisis", "wobbling")
TIER_LEVEL = {"crisis": 2, "wobbling": 1, "": 0}
ALREADY_WORKING = ("engaged", "already_supported")
SNOOZING = ("declined", "not_appropriate")
STATUS_OUTCOMES = ALREADY_WORKING + SNOOZING
AGENCIES = ("health", "social_care", "housing", "police")
TIMELINE_DAYS = 365

# The contract's columns first (stratify/contract.yaml: published_list), then ours.
EXTRA_COLUMNS = ("household_rank", "household_listed", "household_members", "last_outcome", "last_outcome_date",
                 "note")
SECTION_COLUMNS = ("person_id", "household_id", "tier", "score", "reasons", "agencies", "outcome", "outcome_date")


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


# --------------------------------------------------------------------------- ranking and households


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


# --------------------------------------------------------------------------- outcomes


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


def _history_by_person(history: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each person's published rows as (as_of, tier) arrays in (as_of, published_at) order: sorted once per team."""
    if history.empty:
        return {}
    h = history.sort_values(["person_id", "as_of", "published_at"], kind="mergesort")
    runs_as_of, tiers = pd.to_datetime(h["as_of"]).to_numpy(), h["tier"].to_numpy()
    return {pid: (runs_as_of[rows], tiers[rows]) for pid, rows in person_runs(h["person_id"].to_numpy())}


def person_runs(person_ids: np.ndarray) -> list[tuple[str, slice]]:
    """Each person's rows in an array sorted by person: (person_id, slice), one pass, no groupby per person."""
    if not len(person_ids):
        return []
    starts = np.flatnonzero(np.r_[True, person_ids[1:] != person_ids[:-1]])
    ends = np.r_[starts[1:], len(person_ids)]
    return [(person_ids[a], slice(a, b)) for a, b in zip(starts, ends)]


def outcome_sections(candidates: pd.DataFrame, outcomes: pd.DataFrame, history: pd.DataFrame,
                     rules: ListsConfig, as_of: date) -> pd.DataFrame:
    """Per candidate: `listed`, `already_working` or `snoozed`, with the outcome and a note for the team.

    `candidates`: person_id, tier (this team's tiered people). `outcomes`:
    person_id, status_outcome, status_date, last_outcome, last_date (this
    team's; see list_outcomes.sql). `history`: person_id, as_of,
    published_at, tier (this team's previous published lists).
    Returns person_id, section, outcome, outcome_date, until, note.
    """
    out = pd.DataFrame({"person_id": candidates["person_id"].to_numpy(), "tier": candidates["tier"].to_numpy()})
    out = out.merge(outcomes, on="person_id", how="left")
    section, until, note = ["listed"] * len(out), [None] * len(out), [""] * len(out)
    statuses = out["status_outcome"].to_numpy(object)
    has_status = np.flatnonzero(out["status_outcome"].map(lambda v: isinstance(v, str)).to_numpy(bool)
                                & out["status_date"].notna().to_numpy())
    by_person = _history_by_person(history) if len(has_status) else {}
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
    return pd.DataFrame({
        "person_id": out["person_id"], "section": section,
        "outcome": out["status_outcome"].where(pd.Series(section) != "listed", out["last_outcome"]),
        "outcome_date": out["status_date"].where(pd.Series(section) != "listed", out["last_date"]),
        "until": until, "note": note,
    })


# --------------------------------------------------------------------------- change and drop-offs


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
    `moved team`, `outcome recorded`, `score fell`, `below capacity`.
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


# --------------------------------------------------------------------------- one team


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
    counts = {
        "listed_crisis": int((listed["tier"] == "crisis").sum()),
        "listed_wobbling": int((listed["tier"] == "wobbling").sum()),
        "already_working": len(already), "snoozed": len(snoozed), "dropped": len(dropped),
        "new": int((listed["change"] == "new").sum()),
        # tiered, no outcome taking them off, and not listed: the list was full (the overview's unmet need)
        "over_capacity_crisis": int((listable["tier"] == "crisis").sum()) - int((listed["tier"] == "crisis").sum()),
        "over_capacity_wobbling": int((listable["tier"] == "wobbling").sum()) - int((listed["tier"] == "wobbling").sum()),
    }
    return TeamLists(team, capacity, listed, already, snoozed, dropped,
                     previous_published=previous is not None, counts=counts)


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


# --------------------------------------------------------------------------- the place


def assemble_lists(cfg: PlaceConfig, ctx: RunContext, previous: dict[str, pd.DataFrame]) -> dict[str, TeamLists]:
    """Every configured team's lists for tonight, from the warehouse and the previous published lists."""
    earlier = [p["person_id"] for p in previous.values() if not p.empty]
    with connect(cfg) as con:  # one connection for the night's four reads
        candidates = _candidates(con)
        outcomes = _outcomes(con, ctx.as_of)
        history = _history(con, outcomes.loc[outcomes["status_outcome"].isin(SNOOZING), "person_id"])
        status = _status(con, pd.concat(earlier) if earlier else [])
    teams = {}
    for team in cfg.teams:
        teams[team] = build_team_lists(
            team, cfg.capacity(team),
            candidates[candidates["team"] == team], outcomes[outcomes["team"] == team].drop(columns=["team"]),
            history[history["team"] == team], previous.get(team), status, cfg.lists, ctx.as_of,
        )
    _fill_reasons(cfg, ctx, teams)
    return teams


def _fill_reasons(cfg: PlaceConfig, ctx: RunContext, teams: dict[str, TeamLists]) -> None:
    """Explain every shown wobbling person the scoring stage left without reasons."""
    frames = [f for t in teams.values() for f in (t.listed, t.already_working, t.snoozed) if not f.empty]
    missing = {pid for f in frames for pid, tier, why in zip(f["person_id"], f["tier"], f["reasons"])
               if tier == "wobbling" and not (isinstance(why, str) and why)}
    found = explain_missing(cfg, ctx, missing)
    for f in frames:
        empty = ~f["reasons"].map(lambda r: isinstance(r, str) and bool(r))
        f.loc[empty, "reasons"] = f.loc[empty, "person_id"].map(found).fillna("")


# --------------------------------------------------------------------------- the warehouse


def _register_people(con, person_ids) -> None:
    con.register("list_people", pa.table({"person_id": pa.array(sorted(set(person_ids)), pa.string())}))


def load_candidates(cfg: PlaceConfig) -> pd.DataFrame:
    """Every tiered, listable person with team, household, severity, reasons and agencies."""
    with connect(cfg) as con:
        return _candidates(con)


def load_outcomes(cfg: PlaceConfig, as_of: date) -> pd.DataFrame:
    """Per person and team, the latest outcome and latest status outcome known on `as_of`."""
    with connect(cfg) as con:
        return _outcomes(con, as_of)


def load_history(cfg: PlaceConfig, person_ids) -> pd.DataFrame:
    """Earlier published list rows (team, person_id, as_of, published_at, tier) of these people."""
    with connect(cfg) as con:
        return _history(con, person_ids)


def load_status(cfg: PlaceConfig, person_ids) -> pd.DataFrame:
    """Tonight's team, death, tier and score of these people (those still registered and not opted out)."""
    with connect(cfg) as con:
        return _status(con, person_ids)


def _candidates(con) -> pd.DataFrame:
    return con.execute(read_sql(SQL_DIR / "list_candidates.sql")).df()


def _outcomes(con, as_of: date) -> pd.DataFrame:
    return con.execute(read_sql(SQL_DIR / "list_outcomes.sql"), {"as_of": as_of}).df()


def query_for_people(con, person_ids, sql_file: str) -> pd.DataFrame:
    """Run a query of stratify/sql over `list_people` (these people), unregistering them afterwards."""
    _register_people(con, person_ids)
    try:
        return con.execute(read_sql(SQL_DIR / sql_file)).df()
    finally:
        con.unregister("list_people")


def _history(con, person_ids) -> pd.DataFrame:
    return query_for_people(con, person_ids, "list_history_of.sql")


def _status(con, person_ids) -> pd.DataFrame:
    return query_for_people(con, person_ids, "list_person_status.sql")


def load_timelines(cfg: PlaceConfig, person_ids, as_of: date) -> pd.DataFrame:
    """Contacts by agency and week over the last year (person_id, source, week_ago 0..52, events)."""
    with connect(cfg) as con:
        _register_people(con, person_ids)
        return con.execute(read_sql(SQL_DIR / "list_timelines.sql"), {"as_of": as_of, "days": TIMELINE_DAYS}).df()


def load_trends(cfg: PlaceConfig, runs: int) -> pd.DataFrame:
    """Counts per published run, team, section and tier over the last `runs` published runs."""
    with connect(cfg) as con:
        return con.execute(read_sql(SQL_DIR / "list_trends.sql"), {"runs": runs}).df()


def explain_missing(cfg: PlaceConfig, ctx: RunContext, person_ids) -> dict[str, str]:
    """Reasons for wobbling people shown tonight whom the scoring stage did not explain.

    The scoring stage explains everyone it expects a list to show
    (`model.shown_wobbling`); anyone the lists show beyond that set is
    explained here with the same model (loading it costs about 1.5 s).
    """
    ids = sorted(set(person_ids))
    if not ids:
        return {}
    from stratify.model.train import explain, load_explain_rows, read_bundle

    with connect(cfg) as con:
        row = fetch_one(con, "SELECT m.model_version, m.path FROM runs r JOIN models m USING (model_version) "
                             "WHERE r.run_id = $1", [ctx.run_id])
        if row is None:
            return {}
        rows = load_explain_rows(con, ids)
    bundle = read_bundle(row[0], Path(row[1]))
    return dict(zip(rows["person_id"], explain(bundle, rows)))


def save_history(cfg: PlaceConfig, ctx: RunContext, published_at, teams: dict[str, TeamLists]) -> int:
    """Record tonight's published rows in `list_history` (replacing any rows of this run).

    Built as one Arrow table column by column, not a DataFrame per team and
    section (225 of them for the 75 teams of a 3,000,000-person place).
    """
    cols: dict[str, list] = {k: [] for k in ("team", "person_id", "section", "tier", "score", "rank", "change")}
    for t in teams.values():
        for name, frame in (("listed", t.listed), ("already_working", t.already_working), ("snoozed", t.snoozed)):
            n = len(frame)
            if not n:
                continue
            cols["team"] += [t.team] * n
            cols["section"] += [name] * n
            cols["person_id"] += frame["person_id"].tolist()
            cols["tier"] += frame["tier"].tolist()
            cols["score"] += frame["score"].astype(float).tolist()
            cols["rank"] += [int(r) for r in frame["rank"]] if name == "listed" else [None] * n
            cols["change"] += frame["change"].tolist() if name == "listed" else [None] * n
    types = {"team": pa.string(), "person_id": pa.string(), "section": pa.string(), "tier": pa.string(),
             "score": pa.float64(), "rank": pa.int64(), "change": pa.string()}
    rows = pa.table({k: pa.array(v, types[k]) for k, v in cols.items()})
    with connect(cfg) as con:
        con.begin()
        con.register("list_history_in", rows)
        run_sql_file(con, SQL_DIR / "list_history_save.sql",
                     {"run_id": ctx.run_id, "as_of": ctx.as_of, "published_at": published_at}, step="list history")
        con.unregister("list_history_in")
        con.commit()
    return rows.num_rows
