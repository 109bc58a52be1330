"""What happened after the as-of date: who met a crisis rule in the six months that followed.

The oracle place (the whole world up to six months past the as-of date) is
validated, loaded and linked by the product's own stages, and the product's
own feature SQL and crisis rules are evaluated at monthly dates after the
as-of date, exactly as the wobbling label is (`stratify.model.labels`): a
person met the rule "within six months" when they meet it at one of the six
monthly dates after the as-of date. Nothing here is ever read by the product.
"""

from __future__ import annotations

import time
from datetime import date

import numpy as np
import pandas as pd

from stratify.config import PlaceConfig
from stratify.features.build import build_feature_snapshots, drop_intermediates
from stratify.rules import crisis_flags, required_columns
from stratify.run.context import RunContext
from stratify.run.pipeline import stage_function
from stratify.warehouse.connect import connect
from stratify.warehouse.identifiers import quote_identifier

LOAD_STAGES = ("pull", "discover", "validate", "load", "link")


def months_after(d: date, k: int) -> date:
    return (pd.Timestamp(d) + pd.DateOffset(months=k)).date()


def load_oracle(oracle: PlaceConfig, end: date) -> float:
    """Validate, load and link the oracle's deliveries with the product's stages; returns the seconds taken."""
    t0 = time.perf_counter()
    ctx = RunContext.new(oracle, end)
    for name in LOAD_STAGES:
        stage_function(name)(oracle, ctx)
    return time.perf_counter() - t0


def crisis_after(oracle: PlaceConfig, as_of: date, end: date, months: int = 6) -> pd.DataFrame:
    """Per person: `in_crisis_at_as_of`, and `first_month` (1..months: the first monthly date after the as-of
    date at which they meet a crisis rule, knowing everything up to `end`; 0 if none)."""
    dates = [months_after(as_of, k) for k in range(months + 1)]
    if dates[-1] > end:
        raise ValueError(f"the oracle ends on {end}, before {dates[-1]}: make the world longer")
    cols = ["person_id", "as_of", *required_columns(oracle.rules)]
    with connect(oracle) as con:
        build_feature_snapshots(con, oracle, dates, known_at=end, target="feat_train", persons="persons")
        available = [c for (c,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'feat_train'").fetchall()]
        frame = con.sql("SELECT " + ", ".join(quote_identifier(c, available) for c in cols) + " FROM feat_train").df()
        drop_intermediates(con)
    frame["crisis"] = crisis_flags(frame, oracle.rules)
    frame["as_of"] = pd.to_datetime(frame["as_of"])
    wide = frame.pivot_table(index="person_id", columns="as_of", values="crisis", aggfunc="max", fill_value=False)
    wide = wide.reindex(columns=pd.to_datetime(dates), fill_value=False)
    m = wide.to_numpy(dtype=bool)
    first = np.zeros(len(wide), dtype=np.int16)
    for k in range(months, 0, -1):
        first[m[:, k]] = k
    return pd.DataFrame({"in_crisis_at_as_of": m[:, 0], "first_month": first}, index=wide.index)
