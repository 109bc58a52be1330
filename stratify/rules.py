"""Crisis: transparent rules from the place configuration, each with a plain-English reason.

A person meeting any rule is `crisis`. The rules are deliberately simple
comparisons of one feature with a threshold, so a team lead can check every
decision against the evidence quoted in its reason.
"""

from __future__ import annotations

import operator
import string
from collections.abc import Iterable

import numpy as np
import pandas as pd

from stratify.config import ConfigError, CrisisRule, PlaceConfig
from stratify.context import RunContext
from stratify.stages import write_stage_summary
from stratify.warehouse import connect

OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}


def template_fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


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
    in_crisis = met.any(axis=1)
    rule_ids = np.full(len(features), "", dtype=object)
    reasons = np.full(len(features), "", dtype=object)
    for pos in np.flatnonzero(in_crisis.to_numpy()):
        row = features.iloc[pos]
        hits = [r for r in rules if met.iat[pos, met.columns.get_loc(r.id)]]
        rule_ids[pos] = "; ".join(r.id for r in hits)
        reasons[pos] = "; ".join(
            r.reason.format(**{f: _fmt(row[f]) for f in template_fields(r.reason)}) for r in hits
        )
    return pd.DataFrame({
        "person_id": features["person_id"].to_numpy(),
        "in_crisis": in_crisis.to_numpy(),
        "crisis_rules": rule_ids,
        "crisis_reasons": reasons,
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
        select = ", ".join(f'"{c}"' for c in cols)  # every name checked against feat_person above
        features = con.execute(f"SELECT {select} FROM feat_person").df()
        result = evaluate_rules(features, cfg.rules)
        con.begin()
        con.register("crisis_in", result)
        con.execute("CREATE OR REPLACE TABLE crisis AS SELECT * FROM crisis_in")
        con.unregister("crisis_in")
        con.commit()
    by_rule = {r.id: int(result["crisis_rules"].str.contains(rf"(?:^|; ){r.id}(?:;|$)").sum()) for r in cfg.rules}
    summary = {"people": len(result), "in_crisis": int(result["in_crisis"].sum()), "by_rule": by_rule}
    write_stage_summary(cfg, ctx, "rules", summary)
    return summary
