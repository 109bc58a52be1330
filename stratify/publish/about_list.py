"""What every team page, workbook, list folder and the overview say about the list itself.

A list supports a professional's judgement and decides nothing; its readers
need to know, in plain words and without configuration key names, what the
two tiers mean, what a score means in practice (from the model's record on
people it was not trained on: `stratify.model.score_bands`), which model
and which data it came from, and how fresh each source is. `ListFacts`
holds those facts for one run; `sentences` words them once, so the page,
the workbook's About sheet and `about_this_list.txt` beside the CSVs say
the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

from stratify.config import PlaceConfig, SuppressionConfig
from stratify.features.sentences import count
from stratify.publish.suppression import suppress
from stratify.publish.validation_page import SourceFreshness
from stratify.warehouse.database import SQL_DIR, connect, fetch_one, read_sql

MIN_BAND_PEOPLE = 30  # fewer past people than this in a score band: too few to say what its scores meant
TEXT_NAME = "about_this_list.txt"

SUPPORTS = ("This list supports a professional's judgement; it decides nothing. It orders people by what the "
            "agencies' records show, so that the team can choose whom to look at first. Whether and how to "
            "offer help stays with the people who know the person and the family.")


@dataclass(frozen=True)
class ScoreBand:
    """Past people (the model's test snapshot) whose score fell in [low, high), and how many of them met a crisis rule."""

    low: float
    high: float
    people: int
    crises: int


@dataclass(frozen=True)
class ListFacts:
    """The facts behind what a run's pages say about the list."""

    place: str
    run_id: str
    as_of: date
    rules: tuple[str, ...]  # each crisis rule's description, in rule order
    model_version: str | None = None
    horizon_months: int = 6
    min_wobbling_score: float = 0.05
    tested_on: str | None = None  # the test snapshot's date
    bands: tuple[ScoreBand, ...] = ()
    freshness: tuple[SourceFreshness, ...] = field(default_factory=tuple)


def list_facts(cfg: PlaceConfig, run_id: str, as_of: date, freshness: list[SourceFreshness],
               model_version: str | None = None, horizon_months: int | None = None,
               metrics: dict | None = None) -> ListFacts:
    """The facts for one run from what is known of its model (none: the list has the crisis tier only)."""
    metrics = metrics or {}
    bands = tuple(ScoreBand(float(b["low"]), float(b["high"]), int(b["people"]), int(b["crises"]))
                  for b in metrics.get("score_bands") or ())
    return ListFacts(place=cfg.place, run_id=run_id, as_of=as_of, rules=tuple(r.description for r in cfg.rules),
                     model_version=model_version, horizon_months=horizon_months or cfg.model.horizon_months,
                     min_wobbling_score=cfg.model.min_wobbling_score, tested_on=metrics.get("test_snapshot"),
                     bands=bands, freshness=tuple(freshness))


def load_list_facts(cfg: PlaceConfig, run_id: str, as_of: date, freshness: list[SourceFreshness]) -> ListFacts:
    """`list_facts` for a run, its model read from the warehouse (`about_list_model.sql`)."""
    with connect(cfg) as con:
        row = fetch_one(con, read_sql(SQL_DIR / "about_list_model.sql"), {"run_id": run_id})
    if row is None or row[0] is None:
        return list_facts(cfg, run_id, as_of, freshness)
    version, horizon, metrics = row
    return list_facts(cfg, run_id, as_of, freshness, version, horizon, json.loads(metrics) if metrics else None)


def _score(x: float) -> str:
    return f"{x:.2f}"


def crisis_definition(f: ListFacts) -> str:
    return (f"In crisis: the person's records, up to {f.as_of.isoformat()}, meet at least one of the place's "
            f"{count(len(f.rules), 'crisis rule', 'crisis rules')} (listed below); crisis comes first on the list.")


def wobbling_definition(f: ListFacts) -> str:
    return (f"Wobbling: not in crisis, but the model puts the chance that the person meets a crisis rule within the "
            f"next {count(f.horizon_months, 'month', 'months')} at {_score(f.min_wobbling_score)} or more "
            f"(the score); wobbling people follow, highest score first.")


def score_meaning(f: ListFacts, sup: SuppressionConfig) -> list[str]:
    """One sentence per score band a wobbling person can have, from the model's test on past people.

    Bands with fewer than `MIN_BAND_PEOPLE` past people are joined to the
    next band up (the highest to the one below it), so that each sentence
    rests on enough people; too few in all of them together is said so.
    """
    if f.model_version is None:
        return ["No wobbling model was used for this list, so it shows the crisis tier only and has no scores "
                "to explain."]
    if not f.bands:
        return [f"Model {f.model_version} did not record what its scores meant for past people; a model trained "
                "from now on does."]
    groups: list[list[ScoreBand]] = []
    open_group: list[ScoreBand] = []
    for b in f.bands:
        if b.high <= f.min_wobbling_score:
            continue  # scores nobody on the list has
        open_group.append(b)
        if sum(x.people for x in open_group) >= MIN_BAND_PEOPLE:
            groups.append(open_group)
            open_group = []
    if open_group:
        if groups:
            groups[-1] += open_group
        else:
            groups.append(open_group)
    within = f"within {count(f.horizon_months, 'month', 'months')}"
    out = []
    for g in groups:
        people, crises = sum(b.people for b in g), sum(b.crises for b in g)
        span = f"from {_score(max(g[0].low, f.min_wobbling_score))} to {_score(g[-1].high)}"
        if people < MIN_BAND_PEOPLE:
            out.append(f"Score {span}: too few past people had such a score to say what it means "
                       f"({suppress(people, sup)} people).")
            continue
        out.append(f"Score {span}: of {suppress(people, sup)} past people with such a score, about "
                   f"{round(100 * crises / people)} in 100 met a crisis rule {within}.")
    return out


def model_line(f: ListFacts) -> str:
    if f.model_version is None:
        return "Model: none tonight (the list shows the crisis tier only)."
    tested = f" It was tested on people as they were on {f.tested_on}, whom it had not been trained on." if f.tested_on else ""
    return f"Model version {f.model_version}.{tested}"


def freshness_lines(f: ListFacts) -> list[str]:
    out = []
    for s in f.freshness:
        last = s.last_accepted.isoformat() if s.last_accepted else "never"
        out.append(f"{s.source}: last accepted delivery {last}; {s.status}" + (f" ({s.why})" if s.why else ""))
    return out


def sentences(f: ListFacts, sup: SuppressionConfig) -> dict[str, object]:
    """Everything said about the list, worded once for every page and file."""
    return {"supports": SUPPORTS, "crisis": crisis_definition(f), "wobbling": wobbling_definition(f),
            "score_meaning": score_meaning(f, sup), "model": model_line(f),
            "data": f"Data up to {f.as_of.isoformat()} (run {f.run_id}).", "freshness": freshness_lines(f),
            "rules": list(f.rules)}


def as_text(f: ListFacts, sup: SuppressionConfig, team: str | None = None) -> str:
    """`about_this_list.txt`: the same words, for whoever opens the CSVs beside it."""
    s = sentences(f, sup)
    lines = [f"About this list{f' (team {team})' if team else ''}, {f.place}", "", s["supports"], "",
             s["crisis"], "The crisis rules:", *[f"  - {r}" for r in s["rules"]], "", s["wobbling"],
             "What a score means:", *[f"  - {x}" for x in s["score_meaning"]], "", s["model"], s["data"],
             "How fresh each source is:", *[f"  - {x}" for x in s["freshness"]], "",
             "Each list CSV holds the full pseudonyms; look people up through the place's re-identification process."]
    return "\n".join(lines) + "\n"
