"""What the IG page says beyond the deliveries: who the register left out, who saw what, which model scores.

- `register_exclusions`: people with the national data opt-out left out and
  people who died removed tonight (the link stage's counts), and people a team
  recorded as `wrong_person` (a linkage problem) or `moved_away` (the rank
  stage's), suppressed.
- `access_summary`: exports and re-identifications from `access_log` in the
  last `ACCESS_DAYS` days: who, when, why, what, how many people (suppressed).
- `model_summary`: the promoted wobbling model's version and its fairness
  results. A gap between groups is measured only over groups with at least
  `model.fairness_min_positives` people entering crisis (and `min_count`
  people); where fewer than two groups have that many, the gap is "not
  measurable", never 0.0.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import PurePath
from typing import Any

from stratify.config import PlaceConfig
from stratify.publish.suppression import Count
from stratify.run.context import RunContext
from stratify.run.summaries import read_stage_summaries
from stratify.warehouse.database import SQL_DIR, connect, fetch_one, read_sql

ACCESS_DAYS = 31
ACCESS_SHOWN = 50  # newest entries listed; the totals count them all
ACTIONS = {"export_list": "list exported", "reidentify": "list re-identified"}
GAP_METRICS = {"recall": "recall (share of people entering crisis who were listed)",
               "false_positive_rate": "false-positive rate (share of people not entering crisis who were listed)"}


def register_exclusions(cfg: PlaceConfig, ctx: RunContext) -> dict[str, str] | None:
    """Tonight's register: registered, opted out (left out), died (removed), no team; None if not linked tonight."""
    stages = read_stage_summaries(cfg, ctx)
    link = stages.get("link")
    if not link:
        return None
    shown = {k: Count(link.get(k)).shown(cfg.suppression) for k in ("registered", "opted_out", "died", "no_team")}
    withdrawn = (stages.get("rank") or {}).get("withdrawn") or {}  # outcomes that take a person off a list
    shown["wrong_person"] = Count(int(withdrawn.get("wrong_person", 0))).shown(cfg.suppression)
    shown["moved_away"] = Count(int(withdrawn.get("moved_away", 0))).shown(cfg.suppression)
    return shown


def _what(action: str, target: str | None) -> str:
    """The access log's target in words: the team and run of an export, the list file of a re-identification."""
    try:
        facts = json.loads(target or "")
    except ValueError:
        return ""
    if not isinstance(facts, dict):
        return ""
    if facts.get("team"):
        return f"team {facts['team']}" + (f", run {facts['run_id']}" if facts.get("run_id") else "")
    if facts.get("list"):
        return f"list {PurePath(str(facts['list'])).name}"
    return ""


def access_summary(cfg: PlaceConfig, now: datetime | None = None) -> dict[str, Any]:
    """Exports and re-identifications in the last ACCESS_DAYS days: totals per action and the newest entries."""
    now = now or datetime.now(UTC)
    since = now - timedelta(days=ACCESS_DAYS)
    with connect(cfg) as con:
        cur = con.execute(read_sql(SQL_DIR / "report_access_log.sql"), {"since": since})
        cols = [d[0] for d in cur.description]
        rows = [dict(zip(cols, r)) for r in cur.fetchall()]
    sup = cfg.suppression
    totals: dict[str, dict[str, Any]] = {}
    for r in rows:
        t = totals.setdefault(r["action"], {"entries": 0, "people": 0, "users": set()})
        t["entries"] += 1
        t["people"] += int(r["n_people"] or 0)
        t["users"].add(r["user_name"])
    return {
        "days": ACCESS_DAYS, "since": since.strftime("%Y-%m-%d %H:%M UTC"),
        "totals": [{"action": ACTIONS.get(a, a), "entries": t["entries"], "people": Count(t["people"]).shown(sup),
                    "users": ", ".join(sorted(t["users"]))} for a, t in sorted(totals.items())],
        "entries": [{"when": r["accessed_utc"], "who": r["user_name"], "action": ACTIONS.get(r["action"], r["action"]),
                     "what": _what(r["action"], r["target"]), "why": r["reason"] or "",
                     "people": Count(r["n_people"]).shown(sup) if r["n_people"] is not None else "not recorded"}
                    for r in rows[:ACCESS_SHOWN]],
        "more": max(len(rows) - ACCESS_SHOWN, 0),
    }


def _gap_words(gap: float | None, measured: int, cfg: PlaceConfig) -> str:
    """A largest gap between groups, or why it cannot be measured (never 0.0 for "not enough people")."""
    n = cfg.model.fairness_min_positives
    if measured == 0:
        return f"not measurable (fewer than {n} positives in every group)"
    if measured == 1 or gap is None:
        return f"not measurable (fewer than {n} positives in all but one group)"
    return f"{gap:.2f}"


def fairness_rows(fairness: dict, cfg: PlaceConfig) -> list[dict[str, Any]]:
    """Per group attribute and metric: the largest gap (or "not measurable") and the groups compared or not."""
    out = []
    for attr, result in fairness.items():
        if attr == "largest_gap" or not isinstance(result, dict):
            continue
        by_group = result.get("by_group") or {}
        compared = sorted(g for g, row in by_group.items()
                          if (row.get("count") or 0) >= cfg.suppression.min_count
                          and (row.get("positives") or 0) >= cfg.model.fairness_min_positives)
        left = sorted(set(by_group) - set(compared))
        for metric, words in GAP_METRICS.items():
            values = [by_group[g].get(metric) for g in compared if by_group[g].get(metric) is not None]
            gap = (result.get("largest_gap") or {}).get(metric) if len(values) > 1 else None
            out.append({"attribute": attr.replace("_", " "), "metric": words,
                        "gap": _gap_words(gap, len(values), cfg),
                        "over_bound": gap is not None and gap > cfg.model.max_fairness_gap,
                        "compared": ", ".join(compared) or "none", "not_compared": ", ".join(left) or "none"})
    return out


def model_summary(cfg: PlaceConfig) -> dict[str, Any] | None:
    """The promoted wobbling model: version, when trained, on what period, its fairness results; None if none."""
    with connect(cfg) as con:
        row = fetch_one(con, read_sql(SQL_DIR / "report_promoted_model.sql"))
    if row is None:
        return None
    version, trained, as_of, data_from, data_to, horizon, algorithm, metrics_json = row
    metrics = json.loads(metrics_json or "{}")
    return {"version": version, "trained": trained, "as_of": as_of.isoformat(), "data_from": data_from.isoformat(),
            "data_to": data_to.isoformat(), "horizon_months": horizon, "algorithm": algorithm.replace("_", " "),
            "fairness": fairness_rows(metrics.get("fairness") or {}, cfg),
            "min_positives": cfg.model.fairness_min_positives, "max_gap": f"{cfg.model.max_fairness_gap:.2f}"}
