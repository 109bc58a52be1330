"""The place's baseline as aggregate figures: who is known, what it costs, who carries it, the priorities.

Computed for the year ending on the as-of date and for each of the two years
before (each as it is known on the as-of date), from temporary tables built
by `stratify.costs.years` (one pricing pass for all the years; never the
nightly tables). Every count is
suppressed (`suppress`): 0, `<min_count` or rounded; a sum of money or a
share is shown only for a group of at least `min_count` people, else
`None` ("suppressed"). No pseudonym leaves this module.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np

from stratify.config import PlaceConfig, SuppressionConfig
from stratify.costs.compute import CostTables
from stratify.costs.person import AGENCIES, AGENCY_NAMES
from stratify.publish.suppression import suppress

YEARS = 3
CURVE_POINTS = 50


def _pence(value: float) -> float:
    """A sum of pounds to the penny first: the same figure whatever order DuckDB's threads added it in."""
    return round(float(value), 2)


def _money(value: float, people: int, sup: SuppressionConfig) -> float | None:
    """Pounds (whole) for a group big enough to show (or nobody at all: 0), else None."""
    if people == 0:
        return 0
    return math.floor(_pence(value) + 0.5) if people >= sup.min_count else None  # half a pound up, as money is


def _share(value: float, total: float, people: int, sup: SuppressionConfig) -> float | None:
    if people < sup.min_count or total <= 0:
        return None
    return round(_pence(value) / _pence(total), 4)


def concentration(costs: np.ndarray, sup: SuppressionConfig) -> dict[str, Any]:
    """The share of the cost carried by the top 1% and 5%, and the curve (share of units -> share of cost)."""
    units = len(costs)
    ordered = np.sort(costs)[::-1]
    cum = np.cumsum(ordered)  # in sorted order: the same sums whatever order the rows came in
    total = _pence(cum[-1]) if units else 0.0
    out: dict[str, Any] = {"units": suppress(units, sup), "total_gbp": _money(total, units, sup)}
    for pct in (1, 5, 10):
        k = int(np.ceil(units * pct / 100))
        out[f"top_{pct}pct_share"] = _share(cum[k - 1] if k else 0.0, total, k, sup)
    if units >= sup.min_count and total > 0:
        xs = np.linspace(0, 1, CURVE_POINTS + 1)
        idx = np.clip((xs * units).astype(int) - 1, -1, units - 1)
        out["curve"] = [[round(float(x), 4), round(float(cum[i] / total) if i >= 0 else 0.0, 4)]
                        for x, i in zip(xs, idx)]
    else:
        out["curve"] = None
    return out


def year_figures(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig, as_of: date, t: CostTables) -> dict[str, Any]:
    """Every figure of one year ending on `as_of`, from its baseline_ tables (`stratify.costs.years.year_tables`)."""
    sup = cfg.suppression
    pc = t.person_costs
    living = f"FROM {pc} WHERE NOT died"
    people = con.execute(f"SELECT count(*) {living}").fetchall()[0][0]
    total_12m = con.execute(f"SELECT coalesce(sum(cost_12m_gbp), 0), count(*) FROM {pc}").fetchall()[0]
    fig: dict[str, Any] = {"as_of": as_of.isoformat(), "window": f"{as_of - timedelta(days=364)} to {as_of}",
                           "people": suppress(int(people), sup),
                           "cost_12m_gbp": _money(total_12m[0], int(total_12m[1]), sup)}
    fig["cost_per_person_gbp"] = (round(_pence(total_12m[0]) / people, 2) if people >= sup.min_count else None)
    teams = con.execute(
        f"SELECT coalesce(team, '(no team)'), count(*) FILTER (WHERE NOT died), sum(cost_12m_gbp), count(*), "
        f"sum(assessments_12m) FROM {pc} GROUP BY ALL ORDER BY 1").fetchall()
    fig["teams"] = [{"team": tm, "people": suppress(int(n), sup), "cost_12m_gbp": _money(c, int(m), sup),
                     "cost_per_person_gbp": round(_pence(c) / n, 2) if n >= sup.min_count else None,
                     "assessments_12m": suppress(int(a), sup)} for tm, n, c, m, a in teams]
    known = dict(con.execute(f"SELECT agencies_12m, count(*) {living} GROUP BY 1").fetchall())
    fig["known_to_agencies_12m"] = {str(k): suppress(int(known.get(k, 0)), sup) for k in range(5)}
    fig["known_to_two_or_more_12m"] = suppress(int(sum(v for k, v in known.items() if k >= 2)), sup)
    costs = con.execute(f"SELECT cost_12m_gbp FROM {pc}").fetchnumpy()["cost_12m_gbp"].astype(float)
    hh = con.execute(f"SELECT round(sum(cost_12m_gbp), 2) AS c FROM {pc} GROUP BY coalesce(household_id, person_id)"
                     ).fetchnumpy()["c"].astype(float)
    fig["concentration"] = {"people": concentration(costs, sup), "households": concentration(hh, sup)}
    by_agency = con.execute(
        "SELECT " + ", ".join(f"sum(cost_12m_{a}_gbp), count(*) FILTER (WHERE events_12m_{a} > 0)" for a in AGENCIES)
        + f" FROM {pc}").fetchall()[0]
    fig["cost_by_agency"] = [{"agency": AGENCY_NAMES[a], "people": suppress(int(by_agency[2 * i + 1]), sup),
                              "cost_12m_gbp": _money(by_agency[2 * i], int(by_agency[2 * i + 1]), sup),
                              "share": _share(by_agency[2 * i], total_12m[0], int(by_agency[2 * i + 1]), sup)}
                             for i, a in enumerate(AGENCIES)]
    handoff_keys = {(h.source, h.event_type) for h in cfg.handoffs}
    rows = con.execute(f"SELECT source, event_type, unit_cost_gbp, unit, events_12m, cost_12m_gbp, people_12m "
                       f"FROM {t.event_type_costs} ORDER BY cost_12m_gbp DESC, source, event_type").fetchall()
    fig["cost_by_event_type"] = [
        {"agency": AGENCY_NAMES[s], "event_type": e, "unit_cost_gbp": u, "unit": unit,
         "events_12m": suppress(int(n), sup), "cost_12m_gbp": _money(c, int(p), sup), "handoff": (s, e) in handoff_keys,
         "costed": u > 0} for s, e, u, unit, n, c, p in rows]
    fig["not_costed"] = [r for r in fig["cost_by_event_type"] if not r["costed"]]
    ho = con.execute(f"SELECT coalesce(sum(assessments_12m), 0), count(*) FILTER (WHERE assessments_12m >= 1), "
                     f"count(*) FILTER (WHERE assessments_12m >= 3), count(*) FILTER (WHERE assessments_12m >= 5), "
                     f"count(*) FILTER (WHERE assessments_12m >= 10) {living}").fetchall()[0]
    fig["handoffs"] = {"types": sorted(f"{AGENCY_NAMES[s]}: {e}" for s, e in handoff_keys),
                       "total_12m": suppress(int(ho[0]), sup), "people_1plus": suppress(int(ho[1]), sup),
                       "people_3plus": suppress(int(ho[2]), sup), "people_5plus": suppress(int(ho[3]), sup),
                       "people_10plus": suppress(int(ho[4]), sup),
                       "per_person_with_any": round(int(ho[0]) / int(ho[1]), 2) if ho[1] >= sup.min_count else None}
    fig["priorities"] = priority_figures(con, cfg, t.person_priorities, pc, total_12m[0])
    return fig


def priority_figures(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig, pp: str, pc: str, total: float) -> dict:
    sup = cfg.suppression
    rows = {pid: (n, h, c) for pid, n, h, c in con.execute(
        f"SELECT p.priority_id, count(*), count(DISTINCT p.household_id), coalesce(sum(c.cost_12m_gbp), 0) "
        f"FROM {pp} AS p JOIN {pc} AS c USING (person_id) GROUP BY 1").fetchall()}
    items = []
    for p in cfg.priorities:
        n, h, c = rows.get(p.id, (0, 0, 0.0))
        items.append({"id": p.id, "name": p.name, "description": p.description, "people": suppress(int(n), sup),
                      "households": suppress(int(h), sup), "cost_12m_gbp": _money(c, int(n), sup),
                      "share_of_cost": _share(c, total, int(n), sup),
                      "cost_per_person_gbp": round(_pence(c) / n, 2) if n >= sup.min_count else None})
    pairs = con.execute(f"SELECT a.priority_id, b.priority_id, count(*) FROM {pp} a JOIN {pp} b "
                        f"ON a.person_id = b.person_id AND a.priority_id < b.priority_id GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
    overlap = {f"{a}+{b}": suppress(int(n), sup) for a, b, n in pairs}
    any_n, multi = con.execute(f"SELECT count(*), count(*) FILTER (WHERE k > 1) FROM "
                               f"(SELECT person_id, count(*) AS k FROM {pp} GROUP BY 1)").fetchall()[0]
    return {"rows": items, "overlap": overlap, "people_in_any": suppress(int(any_n), sup),
            "people_in_several": suppress(int(multi), sup)}


def baseline_figures(con: duckdb.DuckDBPyConnection, cfg: PlaceConfig, as_of: date, years: int = YEARS) -> dict:
    """The baseline: this year's figures and the same for each earlier year, with the table's provenance."""
    from stratify.priorities.settings import NOT_EXPRESSIBLE

    costs = cfg.costs
    out = {
        "place": cfg.place, "as_of": as_of.isoformat(),
        "price_year": costs.price_year if costs else None,
        "unit_costs": costs.source_text if costs else None,
        "unit_costs_file": costs.path.name if costs else None,
        "suppression": {"min_count": cfg.suppression.min_count, "round_to": cfg.suppression.round_to},
        "not_expressible": NOT_EXPRESSIBLE,
        "years": [],
    }
    from stratify.costs.years import drop_years, prepare_years, year_tables

    dates = [as_of - timedelta(days=365 * k) for k in range(years)]
    prepare_years(con, cfg, dates, as_of)
    try:
        for k, day in enumerate(dates):
            out["years"].append(year_figures(con, cfg, day, year_tables(con, cfg, k, day)))
    finally:
        drop_years(con)
    return out
