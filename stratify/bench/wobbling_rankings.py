"""The rankings the wobbling benchmark compares, each as every team's first k wobbling people.

- `stratify`: the wobbling people of each team's published list, in list order
  (households together, as a team sees them);
- `heuristic`: the one-line rule of thumb: distinct disadvantage domains in 12
  months, then events in the last 90 days;
- `answer key`: the generator's latent escalation on the as-of date (a ceiling,
  not a model);
- `triage`: dssg/triage's selected model's scores (`bench/triage/`), when run.

Every ranking but stratify's picks from the same people: those the product
scored and did not find in crisis (`scores`, tier not `crisis`), by team.
"""

from __future__ import annotations

import re

import pandas as pd

from stratify.config import PlaceConfig
from stratify.warehouse.connect import connect

EVENTS_90D = re.compile(r"^(health|social_care|housing|police)_[a-z0-9_]+_90d$")


def candidates(cfg: PlaceConfig) -> pd.DataFrame:
    """People not in crisis that the product scored: person_id, team, score, heuristic columns."""
    with connect(cfg) as con:
        cols = [c for (c,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'feat_person'").fetchall()]
        recent = " + ".join(f'f."{c}"' for c in cols if EVENTS_90D.match(c)) or "0"
        return con.execute(
            "SELECT s.person_id, s.team, s.score, f.smd_domains_365d AS domains_12m, "
            f"({recent}) AS events_90d FROM scores AS s JOIN feat_person AS f USING (person_id) "
            "WHERE s.tier <> 'crisis' AND s.team IS NOT NULL").df()


def top_per_team(frame: pd.DataFrame, by: list[str], k: int) -> dict[str, list[str]]:
    """Each team's first k people by the columns `by` (descending; ties by pseudonym, stable)."""
    ordered = frame.sort_values(by + ["person_id"], ascending=[False] * len(by) + [True], kind="mergesort")
    return {str(t): g["person_id"].head(k).tolist() for t, g in ordered.groupby("team", sort=True)}


def stratify_lists(cfg: PlaceConfig, k: int) -> dict[str, list[str]]:
    """Each team's first k wobbling people on its published list, in list order."""
    out = {}
    for path in sorted((cfg.out / "latest" / "lists").glob("*.csv")):
        lst = pd.read_csv(path, keep_default_na=False, dtype={"rank": int})
        wob = lst[lst["tier"] == "wobbling"].sort_values("rank", kind="mergesort")
        out[path.stem] = wob["person_id"].head(k).tolist()
    return out


def heuristic(cands: pd.DataFrame, k: int) -> dict[str, list[str]]:
    return top_per_team(cands, ["domains_12m", "events_90d"], k)


def by_scores(cands: pd.DataFrame, scores: pd.Series, k: int) -> dict[str, list[str]]:
    """Each team's first k candidates by an external score (person_id -> score; missing people score 0)."""
    frame = cands[["person_id", "team"]].assign(external=cands["person_id"].map(scores).fillna(0.0).to_numpy())
    return top_per_team(frame, ["external"], k)
