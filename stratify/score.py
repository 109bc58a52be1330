"""The `score` stage: tier, score and severity for every listable person, into `scores`.

Crisis comes from the rules (`crisis`); wobbling is the promoted model's
probability of a first crisis within the horizon (a first model is trained
if none was ever promoted). Reasons of people in crisis are the rules'
reasons; wobbling people are explained by the stage that lists them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from threadpoolctl import threadpool_limits

from stratify.config import PlaceConfig
from stratify.features.build import model_feature_columns
from stratify.model.predict import Prediction, predict
from stratify.model.registry import ModelBundle, ModelError, load_promoted
from stratify.model.train import train_model
from stratify.run.audit import set_model_version
from stratify.run.context import RunContext
from stratify.run.summaries import write_stage_summary
from stratify.warehouse.database import SQL_DIR, connect, read_sql

# A person's tier in `scores`: in crisis, wobbling, or neither.
TIERS = pa.array(["crisis", "wobbling", ""], pa.string())
# Columns of the crisis table that scoring reads beside the features.
CRISIS_COLUMNS = ("in_crisis", "crisis_rules", "crisis_reasons")


def contact_columns(columns) -> list[str]:
    """The feature columns counting contacts in 90 days per agency and event type (SMD domain counts excluded)."""
    return [c for c in columns if c.endswith("_events_90d") and not c.startswith("smd_")]


def severity_columns(columns) -> list[str]:
    """The feature columns the crisis tier's severity adds up: contacts in 90 days, and SMD domains."""
    return contact_columns(columns) + ["smd_domains_365d"]


@dataclass
class ScoringRows:
    """Everyone listable tonight (in no particular order): the columns scoring needs, and the model's features as float32."""

    frame: pd.DataFrame  # person_id, team, CRISIS_COLUMNS, severity_columns
    X: np.ndarray | None  # (people x model features), None without a model


def load_scoring_rows(con, bundle: ModelBundle | None) -> ScoringRows:
    """Read only the columns scoring needs, the features through Arrow straight into one float32 matrix.

    Reading all of `feat_person` (about 130 columns) into pandas and then
    picking the features cost more than predicting used to. Only the few
    people a team will see are read whole, for their reasons, by the rank
    stage (`stratify.model.explain.load_explain_rows`).
    """
    available = model_feature_columns(con)
    features = list(bundle.feature_columns) if bundle is not None else []
    missing = set(features) - set(available)
    if missing:
        raise ModelError(f"model {bundle.model_version} needs features this warehouse lacks "
                         f"({', '.join(sorted(missing)[:5])}); run `stratify train`")
    wanted = sorted(set(features) | set(severity_columns(available)))
    table = con.sql(read_sql(SQL_DIR / "score_rows.sql"), params={"columns": wanted}).to_arrow_table()
    narrow = ["person_id", "team", *CRISIS_COLUMNS, *severity_columns(available)]
    frame = table.select(narrow).to_pandas()
    X = None
    if bundle is not None:
        X = np.empty((table.num_rows, len(features)), dtype=np.float32, order="F")  # filled a column at a time
        for j, name in enumerate(features):
            X[:, j] = table.column(name).to_numpy()
    return ScoringRows(frame, X)


def score_wobbling(cfg: PlaceConfig, ctx: RunContext) -> dict:
    """The nightly stage: `scores` for every listable person (training a first model if none).

    If no model can be promoted (the first one trained was held back, e.g.
    for a fairness gap), the lists carry the crisis tier only and the run's
    summary says why; a biased model is never used just to fill a list.
    A night that trains records the seconds it spent training
    (`training_s`), so that a first load's figures can tell training from the rest.
    """
    trained, untrainable, training_s = None, None, None
    bundle = load_promoted(cfg)
    if bundle is None:
        started = time.perf_counter()
        try:
            trained = train_model(cfg, ctx.as_of)
        except ModelError as exc:  # e.g. too little history yet: crisis rules still work
            untrainable = str(exc)
        training_s = round(time.perf_counter() - started, 2)
        bundle = load_promoted(cfg)
    with connect(cfg) as con:
        rows = load_scoring_rows(con, bundle)
        with threadpool_limits(limits=cfg.duckdb.threads):
            prediction = predict(bundle.model, rows.X, workers=cfg.duckdb.threads) if bundle is not None else None
        scores = score_frame(cfg, rows.frame, prediction.scores if prediction is not None else None)
        con.begin()
        con.register("scores_in", scores)
        con.execute("CREATE OR REPLACE TABLE scores AS SELECT * FROM scores_in")
        con.unregister("scores_in")
        con.commit()
    summary = {
        "model_version": bundle.model_version if bundle else None,
        "trained_now": trained is not None,
        "scored": len(scores),
        "crisis": int((scores["tier"] == "crisis").sum()),
        "wobbling": int((scores["tier"] == "wobbling").sum()),
        **scoring_path(prediction),
    }
    if training_s is not None:
        summary["training_s"] = training_s
    if untrainable:
        summary["warning"] = f"no wobbling model could be trained ({untrainable}); lists show the crisis tier only."
    elif bundle is None:
        summary["warning"] = (
            f"no promoted wobbling model: the model trained tonight ({trained['model_version']}) was held back "
            f"({trained['why']}); lists show the crisis tier only. See {trained['model_card']}."
        )
    else:
        set_model_version(cfg, ctx, bundle.model_version)
    write_stage_summary(cfg, ctx, "model", summary)
    return summary


def scoring_path(prediction: Prediction | None) -> dict:
    """How tonight's scores were computed, for the stage summary: a fall-back from the fast path is counted."""
    if prediction is None:
        return {"scoring_path": None, "fast_path_fallbacks": 0}
    summary = {"scoring_path": "by_cell" if prediction.by_cell else "row_by_row",
               "fast_path_fallbacks": int(prediction.fallback is not None)}
    if prediction.fallback is not None:
        summary["fast_path_fallback"] = prediction.fallback
    return summary


def score_frame(cfg: PlaceConfig, df: pd.DataFrame, prob: np.ndarray | None) -> pd.DataFrame:
    """Tier, score and severity for each person; the rules' reasons of those in crisis.

    `df` holds person_id, team, in_crisis, crisis_rules, crisis_reasons and
    the severity's columns; `prob` the model's probability for the same
    rows (None without a usable model: nobody is wobbling, people in crisis
    still score 1). Wobbling people are explained by the rank stage, for the
    people it lists (`stratify.lists.stage.explain_shown`).
    """
    if prob is None:
        prob = np.zeros(len(df))
    crisis = df["in_crisis"].to_numpy(dtype=bool)
    tier = np.where(crisis, 0, np.where(prob >= cfg.model.min_wobbling_score, 1, 2)).astype(np.int8)
    # Columns stay Arrow strings (pandas' own); a round trip through Python str objects cost ~3 s at 3M people.
    return pd.DataFrame({
        "person_id": df["person_id"].array,
        "team": df["team"].array,
        "tier": pd.array(TIERS.take(tier), dtype="str"),
        # In crisis now: the probability of being in crisis within the horizon is taken as 1.
        "score": np.where(crisis, 1.0, prob).round(4),
        # Orders the crisis tier: rules met, then contacts in 90 days, then domains.
        "severity": (df["crisis_rules"].str.count(";") + (df["crisis_rules"] != "")).to_numpy() * 1_000_000
                    + df[contact_columns(df.columns)].sum(axis=1).to_numpy() * 10
                    + df["smd_domains_365d"].to_numpy(),
        "reasons": df["crisis_reasons"].astype("str").array,
    })
