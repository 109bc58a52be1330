"""The small, serialisable description of one run that every stage receives.

It travels between Airflow tasks through XCom (as a dict of strings), so it
holds identifiers and dates only: stages exchange data through the warehouse
and the run's staging folder, never through XCom.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from stratify.config import PlaceConfig


@dataclass(frozen=True)
class RunContext:
    run_id: str
    place: str
    as_of: date

    @classmethod
    def new(cls, cfg: PlaceConfig, as_of: date, now: datetime | None = None) -> RunContext:
        now = now or datetime.now(UTC)
        return cls(run_id=f"{as_of:%Y%m%d}T{now:%H%M%S%f}Z", place=cfg.place, as_of=as_of)

    def to_dict(self) -> dict[str, str]:
        return {"run_id": self.run_id, "place": self.place, "as_of": self.as_of.isoformat()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunContext:
        return cls(run_id=str(d["run_id"]), place=str(d["place"]), as_of=date.fromisoformat(str(d["as_of"])))


def runs_dir(cfg: PlaceConfig) -> Path:
    return cfg.out / "runs"


def staging_dir(cfg: PlaceConfig, ctx: RunContext) -> Path:
    """Where a run builds its outputs before they are published (renamed into `runs/`)."""
    return runs_dir(cfg) / f".staging-{ctx.run_id}"


def run_dir(cfg: PlaceConfig, ctx: RunContext) -> Path:
    return runs_dir(cfg) / ctx.run_id


def latest_link(cfg: PlaceConfig) -> Path:
    return cfg.out / "latest"
