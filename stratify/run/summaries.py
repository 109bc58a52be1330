"""Per-run stage summaries, kept in the run's staging folder for the manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stratify.config import PlaceConfig
from stratify.run.context import RunContext, staging_dir


def summary_path(cfg: PlaceConfig, ctx: RunContext, stage: str) -> Path:
    return staging_dir(cfg, ctx) / "stages" / f"{stage}.json"


def write_stage_summary(cfg: PlaceConfig, ctx: RunContext, stage: str, summary: dict[str, Any]) -> None:
    """Write (or replace: re-running a stage replaces its summary) one stage's summary."""
    path = summary_path(cfg, ctx, stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str), encoding="utf-8")
    tmp.replace(path)


def read_stage_summaries(cfg: PlaceConfig, ctx: RunContext) -> dict[str, Any]:
    folder = staging_dir(cfg, ctx) / "stages"
    if not folder.exists():
        return {}
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}
