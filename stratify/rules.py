"""Crisis: transparent rules from the place configuration, each with a plain-English reason.

A person meeting any rule is `crisis`. The rules are deliberately simple
comparisons of one feature with a threshold, so a team lead can check every
decision against the evidence quoted in its reason. Rule ids, reason
templates (plain `{feature}` fields only) and the features named are
checked when the configuration is loaded (`stratify.config.crisis_rules`);
the feature table's own columns are checked again here before a rule runs.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa

from stratify.config import ConfigError, CrisisRule, PlaceConfig, template_fields
from stratify.run.context import RunContext
from stratify.run.summaries import write_stage_summary
from stratify.warehouse.connect import connect
from stratify.warehouse.identifiers import quote_identifier
from stratify.warehouse.sql import transaction

OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}


def required_columns(rules: Iterable[CrisisRule]) -> list[str]:
    """Every feature a rule tests or quotes, in a stable order."""
    cols: dict[str, None] = {}
    for r in rules:
        cols[r.feature] = None
        cols.update(dict.fromkeys(sorted(template_fields(r.reason))))
    return list(cols)


def check_rules(rules: Iterable[CrisisRule], available: Iterable[str]) -> None:
    """Refuse rules that name a feature the feature table does not have."""
    available = set(available)
    for i, r in enumerate(rules):
        missing = ({r.feature} | template_fields(r.reason)) - available
        if missing:
            raise ConfigError(
                f"rules[{i}] ({r.id}): unknown feature(s) {', '.join(sorted(missing))}; "
                f"see feat_person's columns (docs/features.md) for the names"
            )


def _fmt(value: object) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def evaluate_rules(features: pd.DataFrame, rules: tuple[CrisisRule, ...]) -> pd.DataFrame:
    """Which people meet which rules, with reasons quoting their evidence.

    Returns one row per input row: person_id, in_crisis, crisis_rules
    (`; `-separated rule ids) and crisis_reasons (`; `-separated sentences,
    in rule order).
    """
    check_rules(rules, features.columns)
    met = pd.DataFrame(
        {r.id: OPS[r.op](features[r.feature].fillna(0).to_numpy(), r.threshold) for r in rules},
        index=features.index,
    )
    in_crisis = met.any(axis=1).to_numpy()
    crisis_rows = np.flatnonzero(in_crisis)
    hit = met.to_numpy()[crisis_rows]
    rule_ids, reasons = [""], [""]  # position 0: everyone not in crisis
    for hits_of_row, row in zip(hit, features.iloc[crisis_rows].to_dict("records")):
        hits = [r for r, h in zip(rules, hits_of_row) if h]
        rule_ids.append("; ".join(r.id for r in hits))
        reasons.append("; ".join(r.reason.format(**{f: _fmt(row[f]) for f in template_fields(r.reason)}) for r in hits))
    # Each person's entry in rule_ids/reasons: 0 unless in crisis. Taking Arrow strings by position keeps
    # everyone else's empty text out of Python (millions of "" objects cost seconds at 3,000,000 people).
    which = np.zeros(len(features), dtype=np.int64)
    which[crisis_rows] = np.arange(1, len(crisis_rows) + 1)
    return pd.DataFrame({
        "person_id": features["person_id"].array,
        "in_crisis": in_crisis,
        "crisis_rules": pd.array(pa.array(rule_ids, pa.string()).take(which), dtype="str"),
        "crisis_reasons": pd.array(pa.array(reasons, pa.string()).take(which), dtype="str"),
    })


def crisis_flags(features: pd.DataFrame, rules: tuple[CrisisRule, ...]) -> np.ndarray:
    """Just the boolean "meets any rule" per row (fast path for labelling training snapshots)."""
    check_rules(rules, features.columns)
    flags = np.zeros(len(features), dtype=bool)
    for r in rules:
        flags |= OPS[r.op](features[r.feature].fillna(0).to_numpy(), r.threshold)
    return flags


def apply_rules(cfg: PlaceConfig, ctx: RunContext) -> dict:
    """The nightly stage: the table `crisis` for everyone in `feat_person`."""
    with connect(cfg) as con:
        available = [c for (c,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'feat_person'").fetchall()]
        check_rules(cfg.rules, available)
        cols = ["person_id"] + required_columns(cfg.rules)
        select = ", ".join(quote_identifier(c, available) for c in cols)  # feat_person's own columns only
        features = con.sql(f"SELECT {select} FROM feat_person").to_arrow_table().to_pandas()  # strings stay Arrow
        result = evaluate_rules(features, cfg.rules)
        with transaction(con):
            con.register("crisis_in", result)
            con.execute("CREATE OR REPLACE TABLE crisis AS SELECT * FROM crisis_in")
            con.unregister("crisis_in")
    met = result.loc[result["in_crisis"], "crisis_rules"]
    counted = met.str.split("; ").explode().value_counts()  # whole ids, never a pattern built from one
    by_rule = {r.id: int(counted.get(r.id, 0)) for r in cfg.rules}
    summary = {"people": len(result), "in_crisis": int(result["in_crisis"].sum()), "by_rule": by_rule}
    write_stage_summary(cfg, ctx, "rules", summary)
    return summary
