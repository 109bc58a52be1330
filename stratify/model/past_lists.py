"""How good past lists were, and the flags they raise for the next training.

For every list published at least one horizon ago, by team and month: the
share of its wobbling people who met a crisis rule within the horizon
(realised precision at capacity) beside what the model promised for them
then (their mean calibrated score), and the share of its people in crisis
who still were one horizon later (stratify/sql/measures/past_list_precision.sql).

It lives beside the model, below the measure stage that runs it every night,
because the model card (written when a model is trained) shows the same
table, and the flags a shortfall raises are answered by the next model
registered (`stratify.model.registry.register`).

Small numbers: a (team, month) with fewer than `min_count` wobbling people
is not judged (too few to say anything; never a shortfall) and its figures
are withheld; a realised share whose count of people who met a crisis rule
is between 1 and `min_count - 1` is withheld too, but the month is still
judged against the promise (`short`), since that is the warning the run
must give. The crisis share follows the same rule on its own counts.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

from stratify.resources import SQL_DIR
from stratify.warehouse.sql import read_sql, run_sql_file

PAST_SQL = SQL_DIR / "measures"


def _small(n: int, min_count: int) -> bool:
    return 0 < n < min_count


def past_list_precision(con: duckdb.DuckDBPyConnection, as_of: date, horizon_months: int, min_count: int,
                        margin: float) -> list[dict]:
    """One row per (team, month of the lists): realised against promised precision, withheld where small."""
    rows = con.execute(read_sql(PAST_SQL / "past_list_precision.sql"),
                       {"as_of": as_of, "horizon_months": horizon_months}).df()
    out = []
    for r in rows.itertuples(index=False):
        wobbling, met = int(r.wobbling), int(r.wobbling_met_crisis)
        followed, still = int(r.crisis_followed), int(r.crisis_still)
        judged = wobbling >= min_count
        realised = met / wobbling if wobbling else None
        promised = None if pd.isna(r.promised_precision) else float(r.promised_precision)
        short = bool(judged and realised is not None and promised is not None and realised < promised - margin)
        out.append({
            "team": r.team, "month": pd.Timestamp(r.month).date().isoformat(),
            "lists": int(r.lists), "model_versions": r.model_versions or None,
            "fewest_nights_observed": int(r.fewest_nights_observed),
            "wobbling": wobbling if judged or wobbling == 0 else None,
            "realised_precision": realised if judged and not _small(met, min_count) else None,
            "promised_precision": promised if judged else None,
            "short": short,
            "crisis_followed": None if _small(followed, min_count) else followed,
            "crisis_still_in_crisis_share": (still / followed if followed and not _small(followed, min_count)
                                             and not _small(still, min_count) else None),
            "suppressed": not judged and wobbling > 0,
        })
    return out


def shortfalls(rows: list[dict], margin: float) -> list[dict]:
    """The (team, month) rows that fell short, each with the sentence the run's status gives."""
    found = []
    for p in rows:
        if not p["short"]:
            continue
        if p["realised_precision"] is None:  # judged, but the count who met a crisis rule is small
            said = (f"fewer of the wobbling people met a crisis rule within the horizon than the "
                    f"{p['promised_precision']:.0%} promised, by more than {margin:.0%} (figures withheld: small numbers)")
        else:
            said = (f"{p['realised_precision']:.0%} of the wobbling people met a crisis rule within the horizon, "
                    f"against {p['promised_precision']:.0%} promised (margin {margin:.0%})")
        found.append({"team": p["team"], "month": p["month"], "text": f"team {p['team']}, lists of {p['month'][:7]}: {said}"})
    return found


def save_training_flags(con: duckdb.DuckDBPyConnection, run_id: str, as_of: date, short: list[dict]) -> None:
    """Tonight's shortfalls as flags the next training will see (warehouse/011_training_flags.sql)."""
    run_sql_file(con, PAST_SQL / "training_flags_save.sql",
                 {"run_id": run_id, "as_of": as_of, "teams": [s["team"] for s in short],
                  "months": [date.fromisoformat(s["month"]) for s in short], "reasons": [s["text"] for s in short]},
                 step="measure: flag the next training")


def open_training_flags(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The flags no training has answered yet (empty on a warehouse that has none)."""
    df = con.execute(read_sql(PAST_SQL / "training_flags_open.sql")).df()
    return [{"run_id": r.run_id, "as_of": pd.Timestamp(r.as_of).date().isoformat(), "team": r.team,
             "month": pd.Timestamp(r.list_month).date().isoformat(), "reason": r.reason}
            for r in df.itertuples(index=False)]


def answer_training_flags(con: duckdb.DuckDBPyConnection, model_version: str) -> None:
    """Mark every open flag as taken in by `model_version` (a model just registered)."""
    run_sql_file(con, PAST_SQL / "training_flags_answer.sql", {"model_version": model_version},
                 step="model: answer the training flags")


def card_history(con: duckdb.DuckDBPyConnection, horizon_months: int, min_count: int, margin: float,
                 as_of: date) -> dict:
    """What a new model's card says of the lists before it: past lists' precision and the open training flags."""
    return {"rows": past_list_precision(con, as_of, horizon_months, min_count, margin),
            "flags": open_training_flags(con), "margin": margin, "horizon_months": horizon_months}
