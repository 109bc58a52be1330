"""The model card: one self-contained HTML page per trained model.

It states what the model is for and not for, the data and horizon, every
figure measured on the held-out period (both candidates, the calibrated
choice, per team), the reliability plot, the fairness table, its limits, and
the fields of the UK Algorithmic Transparency Recording Standard (ATRS).
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


def render_model_card(cfg: PlaceConfig, bundle: ModelBundle) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["pct"] = _pct
    env.filters["num"] = _num
    env.filters["count"] = lambda v: _count(v, cfg)
    metrics = bundle.metrics
    return env.get_template("model_card.html.j2").render(
        cfg=cfg, bundle=bundle, m=metrics, rules=cfg.rules,
        plot=reliability_png(metrics["reliability"]),
        n_features=len(bundle.feature_columns),
    )


def write_model_card(cfg: PlaceConfig, bundle: ModelBundle, path: Path) -> Path:
    """Write the card beside the saved model (atomically) and return its path."""
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_model_card(cfg, bundle), encoding="utf-8")
    tmp.replace(path)
    return path
