"""What the published run shows a team: resolved once per request, every file checked against `publications`.

`current_run` resolves `<out>/latest` through `run.context.published_run`
(the one resolver that refuses anything but a published run folder). Its
answer for a run folder never changes (a published run is immutable), so it
is remembered per run id: a request re-reads only the link, and the
warehouse is opened (by `published_run`) once per new run, not per page.
Every file a page reads is read from that one folder and its sha256 must be
the one recorded at publication, so a page never mixes two runs and never
shows a file somebody put there by hand.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd

from stratify.config import PlaceConfig
from stratify.errors import NotPublished, WarehouseLocked
from stratify.publish.people import short_refs
from stratify.publish.team_page import TIMELINES_FILE, Weeks, read_timelines
from stratify.run.context import PublishedRun, latest_link, published_run, runs_dir
from stratify.run.lock import STALE_AFTER, holder_alive, lock_path, read_holder

SECTIONS = ("already_working", "snoozed", "dropped")


class RunCache:
    """Run folders already checked by `published_run`, by run id (thread-safe).

    Checking a new run opens the warehouse (read-only): DuckDB refuses that
    while another process writes the file, and while it is open the night's
    own writes are refused (a stage fails). So while a run holds the place's
    run lock (`run_in_progress`) the warehouse is left alone and the last run
    checked is served, whole; likewise if DuckDB refuses the warehouse. The
    night switches `latest` before it writes its end, so pages show the new
    run once the night has let go, a moment later, never mixing the two
    (found by `stratify bench app`). A server with no run checked yet answers
    503 meanwhile.
    """

    def __init__(self) -> None:
        self._runs: dict[str, PublishedRun] = {}
        self._last: PublishedRun | None = None
        self._views: dict[tuple[str, str], TeamView] = {}
        self._lock = threading.Lock()

    def current_run(self, cfg: PlaceConfig) -> PublishedRun:
        link = latest_link(cfg)
        try:
            folder = link.resolve(strict=True)
        except (OSError, RuntimeError):
            folder = None
        with self._lock:
            known = self._runs.get(folder.name) if folder is not None else None
            last = self._last
        if known is not None and folder == known.folder and folder.parent == runs_dir(cfg).resolve():
            return known
        fallback = last if last is not None and last.folder.is_dir() else None
        if run_in_progress(cfg):
            if fallback is not None:
                return fallback
            raise NotPublished("the nightly run is writing the warehouse; the lists can be shown once it has "
                               "finished")
        try:
            run = published_run(cfg)  # raises NotPublished for anything else
        except WarehouseLocked as exc:
            if fallback is not None:
                return fallback
            raise NotPublished(f"the published run cannot be checked while the warehouse is in use ({exc}); "
                               "try again in a moment") from None
        with self._lock:
            self._runs[run.run_id] = run
            self._last = run
            self._views = {k: v for k, v in self._views.items() if k[0] == run.run_id}  # older runs' views go
        return run

    def team_view(self, run: PublishedRun, team: str) -> TeamView:
        """`team_view`, parsed once per run and team; the files' bytes are still checked on every call.

        Parsing the CSVs was a third of a page's time (`stratify bench app`).
        A published file must be its recorded bytes, so the view parsed from
        them can never differ: each call re-reads and re-hashes the team's
        files (a file changed after publication is still refused), and only
        the parsing is skipped.
        """
        for relative in view_files(run, team):
            read_published(run, relative)
        key = (run.run_id, team)
        with self._lock:
            view = self._views.get(key)
        if view is None:
            view = team_view(run, team)
            with self._lock:
                self._views[key] = view
        return view


def run_in_progress(cfg: PlaceConfig) -> bool:
    """Whether a run holds the place's run lock: its process alive (or on another host), or an Airflow run
    (one process per task) started less than `STALE_AFTER` ago. A stale or unreadable lock is no run."""
    holder = read_holder(lock_path(cfg))
    if not holder:
        return False
    if holder.get("spans_processes"):
        try:
            started = datetime.fromisoformat(str(holder["started_at"]))
        except (KeyError, ValueError):
            return True
        return datetime.now(UTC) - started.astimezone(UTC) < STALE_AFTER
    return holder_alive(holder) is not False


def read_published(run: PublishedRun, relative: str) -> bytes:
    """A file of the run, refused unless publication recorded it with these exact bytes."""
    recorded = run.files.get(relative)
    if recorded is None:
        raise NotPublished(f"{relative} is not a file of published run {run.run_id}")
    data = (run.folder / relative).read_bytes()
    if hashlib.sha256(data).hexdigest() != recorded:
        raise NotPublished(f"{relative} in run {run.run_id} is not the file that was published (its checksum "
                           "differs); refusing to show it")
    return data


def _frame(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)


@dataclass(frozen=True)
class TeamView:
    """One team's published files for one run: the ranked list and its sections, and short references."""

    run_id: str
    as_of: date
    team: str
    listed: pd.DataFrame
    already_working: pd.DataFrame
    snoozed: pd.DataFrame
    dropped: pd.DataFrame
    refs: dict[str, str]  # person_id -> short reference
    timelines: dict[str, Weeks]  # person_id -> weeks of contacts (`teams/<team>/timelines.json`); {} before it existed

    def people(self) -> set[str]:
        return set(self.refs)

    def find(self, ref: str) -> str | None:
        """The pseudonym a short reference or full pseudonym names on this team's page, or None."""
        if ref in self.refs:
            return ref
        matches = [p for p, r in self.refs.items() if r == ref]
        return matches[0] if len(matches) == 1 else None

    def where(self, person_id: str) -> tuple[str, dict] | None:
        """Which part of the page holds the person (listed or a section) and their row."""
        for name in ("listed", *SECTIONS):
            frame = getattr(self, name)
            rows = frame[frame["person_id"] == person_id]
            if len(rows):
                return name, rows.iloc[0].to_dict()
        return None


def run_as_of(run: PublishedRun) -> date:
    manifest = json.loads(read_published(run, "manifest.json"))
    return date.fromisoformat(str(manifest["as_of"]))


def team_view(run: PublishedRun, team: str) -> TeamView:
    """The team's list (`lists/<team>.csv`), sections (`teams/<team>/*.csv`) and timelines of this run.

    A run published before publish wrote `timelines.json` has no timelines
    (the pages say so); one whose file is not the published one is refused.
    """
    listed = _frame(read_published(run, f"lists/{team}.csv"))
    sections = {name: _frame(read_published(run, f"teams/{team}/{name}.csv")) for name in SECTIONS}
    ids = [p for f in (listed, *sections.values()) for p in f["person_id"]]
    timelines_file = f"teams/{team}/{TIMELINES_FILE}"
    timelines = read_timelines(read_published(run, timelines_file)) if timelines_file in run.files else {}
    return TeamView(run.run_id, run_as_of(run), team, listed, sections["already_working"], sections["snoozed"],
                    sections["dropped"], short_refs(ids), timelines)


def view_files(run: PublishedRun, team: str) -> list[str]:
    """What a team's view is made of: its list, the manifest, and its folder's CSV and JSON files."""
    own = sorted(p for p in run.files if p.startswith(f"teams/{team}/") and p.endswith((".csv", ".json")))
    return [f"lists/{team}.csv", "manifest.json", *own]


def published_teams(run: PublishedRun) -> list[str]:
    return sorted(p.split("/")[1][:-4] for p in run.files if p.startswith("lists/") and p.endswith(".csv"))

