"""The small, serialisable description of one run that every stage receives.

It travels between Airflow tasks through XCom (as a dict of strings), so it
holds identifiers and dates only: stages exchange data through the warehouse
and the run's staging folder, never through XCom.
"""

from __future__ import annotations

import re
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


RUN_FOLDER_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,99}")


@dataclass(frozen=True)
class PublishedRun:
    """A run folder that `latest` resolves to and the `publications` table records, with its files' digests."""

    run_id: str
    folder: Path
    files: dict[str, str]  # path relative to the run folder -> sha256 recorded at publication


def published_run(cfg: PlaceConfig) -> PublishedRun:
    """What `<out>/latest` shows, resolved and checked: the one way exports, re-identification and apps read it.

    `latest` must resolve (through every link) to a folder directly inside
    `<out>/runs/` (not a staging folder) whose run id has `publications`
    rows. Anything else (a `latest` pointed at a folder elsewhere, at a
    staging folder, at a folder nobody published) raises `NotPublished`
    without reading what it points at.
    """
    from stratify.errors import NotPublished
    from stratify.warehouse.connect import connect

    link = latest_link(cfg)
    if not link.is_symlink() and not link.exists():
        raise NotPublished(f"nothing is published yet: {link} does not exist")
    try:
        folder = link.resolve(strict=True)
    except (OSError, RuntimeError):
        raise NotPublished(f"{link} does not resolve to an existing folder") from None
    runs = runs_dir(cfg).resolve()
    if folder.parent != runs or not folder.is_dir() or not RUN_FOLDER_RE.fullmatch(folder.name):
        raise NotPublished(f"{link} points outside the published runs in {runs} (at {folder}); refusing to read it")
    with connect(cfg, read_only=True) as con:  # readers (exports, the web app) never take the writer's lock
        rows = con.execute("SELECT path, sha256 FROM publications WHERE run_id = $1", [folder.name]).fetchall()
    if not rows:
        raise NotPublished(f"{link} points at {folder}, which the publications table does not record as published")
    return PublishedRun(run_id=folder.name, folder=folder, files=dict(rows))
