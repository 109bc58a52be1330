"""The model card: one self-contained HTML page per trained model.

It states what the model is for and not for, the data and horizon, every
figure measured on the held-out period (both candidates, the calibrated
choice, per team), the reliability plot, the fairness table, how the lists
published before it fared (realised against promised precision by team and
month, and the training flags their shortfalls raised:
`stratify.model.past_lists`), its limits, and the fields of the UK
Algorithmic Transparency Recording Standard (ATRS).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from stratify.config import PlaceConfig
from stratify.model.evaluation import reliability_png
from stratify.resources import TEMPLATES_DIR

if TYPE_CHECKING:  # the registry writes the card: a type only, no import at run time
    from stratify.model.registry import ModelBundle

TEMPLATES = TEMPLATES_DIR


def _pct(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * value:.1f}%"


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _count(value: float | None, cfg: PlaceConfig) -> str:
    """Small-number suppression: 1..min_count-1 as `<min_count`, others rounded."""
    if value is None:
        return "n/a"
    n = int(value)
    if n == 0:
        return "0"
    if n < cfg.suppression.min_count:
        return f"<{cfg.suppression.min_count}"
    step = cfg.suppression.round_to
    return f"{int(step * round(n / step)):,}"


def past_list_rows(history: dict | None, cfg: PlaceConfig) -> list[dict]:
    """The card's table of past lists: shares as percentages, the count of wobbling people suppressed."""
    rows = []
    for r in (history or {}).get("rows", []):
        rows.append({"team": r["team"], "month": r["month"][:7], "models": r.get("model_versions") or "not recorded",
                     "wobbling": "withheld" if r["wobbling"] is None else _count(r["wobbling"], cfg),
                     "realised": "withheld" if r["realised_precision"] is None else _pct(r["realised_precision"]),
                     "promised": "withheld" if r["promised_precision"] is None else _pct(r["promised_precision"]),
                     "still": "withheld" if r["crisis_still_in_crisis_share"] is None
                     else _pct(r["crisis_still_in_crisis_share"]),
                     "nights": r["fewest_nights_observed"], "short": r["short"]})
    return rows


def render_model_card(cfg: PlaceConfig, bundle: ModelBundle, history: dict | None = None) -> str:
    """The card's HTML; `history`: `stratify.model.past_lists.card_history` as known when it was trained."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["pct"] = _pct
    env.filters["num"] = _num
    env.filters["count"] = lambda v: _count(v, cfg)
    metrics = bundle.metrics
    return env.get_template("model_card.html.j2").render(
        cfg=cfg, bundle=bundle, m=metrics, rules=cfg.rules,
        plot=reliability_png(metrics["reliability"]),
        n_features=len(bundle.feature_columns),
        past=past_list_rows(history, cfg), flags=(history or {}).get("flags", []),
        margin=(history or {}).get("margin", cfg.measures.precision_margin),
    )


def write_model_card(cfg: PlaceConfig, bundle: ModelBundle, path: Path, history: dict | None = None) -> Path:
    """Write the card beside the saved model (atomically) and return its path."""
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_model_card(cfg, bundle, history), encoding="utf-8")
    tmp.replace(path)
    return path
