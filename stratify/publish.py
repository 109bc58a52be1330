"""Publish ranked lists per neighbourhood team, atomically.

Everything is written into the run's staging folder first; the folder is then
renamed into `<out>/runs/<run_id>/` and `<out>/latest` is switched to it in
one `os.replace` of a symbolic link. Until that last step, the previous
published run is what everyone sees; a run that fails before it leaves
`latest` untouched.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from stratify import __version__
from stratify.audit import record_publications
from stratify.config import PlaceConfig
from stratify.context import RunContext, latest_link, run_dir, runs_dir, staging_dir
from stratify.contract import load_contract
from stratify.perms import private_umask, restrict, restrict_tree
from stratify.report import stale_sources, write_validation_summary
from stratify.stages import read_stage_summaries, write_stage_summary
from stratify.warehouse import SQL_DIR, connect, fetch_one, read_sql


class PublishHeld(RuntimeError):
    """The run must not publish (e.g. the register was refused); `latest` stays as it was."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def publication_gate(cfg: PlaceConfig, ctx: RunContext) -> str | None:
    """Why this run must publish nothing, or None: a refused register, or too many refused sources."""
    with connect(cfg) as con:
        rows = con.execute(
            "SELECT source, decision FROM deliveries WHERE run_id = $1 AND source IS NOT NULL", [ctx.run_id]
        ).fetchall()
        registered = fetch_one(con, "SELECT count(*) FROM raw_register")[0]
    if registered == 0:
        return "no person register has ever been loaded; deliver a register before lists can be published"
    bad = {s for s, d in rows if d in ("refused", "held")}
    if "register" in bad:
        return "tonight's register delivery was refused or held; the last good lists stay published"
    delivered = {s for s, _ in rows}
    if delivered and len(bad) / len(delivered) > cfg.validation.max_refused_share:
        return (f"{len(bad)} of {len(delivered)} sources delivered tonight were refused or held "
                f"(more than {cfg.validation.max_refused_share:.0%}); the last good lists stay published")
    return None


def previous_lists(cfg: PlaceConfig) -> dict[str, pd.DataFrame]:
    """The lists of the currently published run, per team (empty before the first run)."""
    folder = latest_link(cfg) / "lists"
    if not folder.is_dir():
        return {}
    return {p.stem: pd.read_csv(p, dtype=str, keep_default_na=False) for p in folder.glob("*.csv")}


def change_against(current: pd.DataFrame, previous: pd.DataFrame | None) -> list[str]:
    """`new`, `up`, `down` or `same` for each row, against the team's previous list.

    Moving from wobbling to crisis is `up` whatever the rank; otherwise a
    smaller rank number is `up`.
    """
    if previous is None or previous.empty:
        return ["new"] * len(current)
    prev = {pid: (tier, int(rank)) for pid, tier, rank in zip(previous["person_id"], previous["tier"], previous["rank"])}
    out = []
    for pid, tier, rank in zip(current["person_id"], current["tier"], current["rank"]):
        if pid not in prev:
            out.append("new")
            continue
        ptier, prank = prev[pid]
        if ptier != tier:
            out.append("up" if tier == "crisis" else "down")
        else:
            out.append("up" if rank < prank else "down" if rank > prank else "same")
    return out


def ranked_lists(cfg: PlaceConfig) -> dict[str, pd.DataFrame]:
    """Each team's list: crisis tier by severity, then wobbling by score, capped at capacity."""
    with connect(cfg) as con:
        frame = con.execute(read_sql(SQL_DIR / "list_candidates.sql")).df()
    lists = {}
    for team in cfg.teams:
        rows = frame[frame["team"] == team].head(cfg.capacity(team)).copy()
        rows.insert(0, "rank", range(1, len(rows) + 1))
        lists[team] = rows.reset_index(drop=True)
    return lists


def write_list(path: Path, rows: pd.DataFrame) -> None:
    columns = list(load_contract().list_columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = rows.assign(score=rows["score"].map(lambda s: f"{s:.4f}"), household_id=rows["household_id"].fillna(""))
    rows[columns].to_csv(path, index=False, encoding="utf-8", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")


def publish_lists(cfg: PlaceConfig, ctx: RunContext) -> dict:
    """Write lists and the manifest into staging, then publish the run and switch `latest`."""
    held = publication_gate(cfg, ctx)
    stage = staging_dir(cfg, ctx)
    if held:  # IG still get the night's record: validation.html stays in the staging folder
        write_stage_summary(cfg, ctx, "publish", {"published": False, "reason": held})
        summary = write_validation_summary(cfg, ctx, stage, "held", held)
        restrict_tree(stage)
        raise PublishHeld(f"{held}. What arrived and why it was refused or held: {summary}")
    previous = previous_lists(cfg)
    written = []
    with private_umask():  # everything published is created 0o640 / 0o750
        for team, rows in ranked_lists(cfg).items():
            rows["change"] = change_against(rows, previous.get(team))
            path = stage / "lists" / f"{team}.csv"
            write_list(path, rows)
            written.append({"team": team, "path": f"lists/{team}.csv", "rows": len(rows), "sha256": sha256_file(path)})
        write_stage_summary(cfg, ctx, "publish", {"published": True, "lists": len(written)})
        summary = write_validation_summary(cfg, ctx, stage, "published", outputs=written)
        outputs = written + [{"path": summary.name, "sha256": sha256_file(summary)}]
        manifest = build_manifest(cfg, ctx, outputs)
        (stage / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=False, default=str), encoding="utf-8")
    restrict_tree(stage)  # files other stages wrote under the process umask
    restrict(runs_dir(cfg))
    final = switch_latest(cfg, ctx)
    record_publications(cfg, ctx, outputs + [{"path": "manifest.json", "sha256": sha256_file(final / "manifest.json")}])
    return {"run_dir": str(final), "lists": len(written), "people": sum(w["rows"] for w in written)}


def build_manifest(cfg: PlaceConfig, ctx: RunContext, written: list[dict]) -> dict:
    """What the run read, decided, used and wrote (contract: Published lists, version 1)."""
    with connect(cfg) as con:
        deliveries = con.execute(
            """
            SELECT delivery_id, source, file_name, sha256, size_bytes, rows, delivery_date, decision, reason
            FROM deliveries WHERE run_id = $1 ORDER BY delivery_id
            """,
            [ctx.run_id],
        ).df()
        model = fetch_one(con, 
            "SELECT r.model_version, m.algorithm, m.metrics_json FROM runs r LEFT JOIN models m USING (model_version) "
            "WHERE r.run_id = $1", [ctx.run_id]
        )
        freshness = con.execute(
            "SELECT source, max(delivery_date) AS last_accepted FROM deliveries "
            "WHERE decision IN ('accepted', 'accepted_with_warnings') GROUP BY source ORDER BY source"
        ).fetchall()
    docs = staging_dir(cfg, ctx) / "validation" / "data_docs" / "index.html"
    return {
        "manifest_version": 1,
        "run_id": ctx.run_id,
        "place": cfg.place,
        "as_of": ctx.as_of.isoformat(),
        "published_at": datetime.now(timezone.utc).isoformat(),
        "stratify_version": __version__,
        "contract_version": load_contract().version,
        "config": {"path": str(cfg.path), "sha256": sha256_file(cfg.path)},
        "deliveries": json.loads(deliveries.to_json(orient="records", date_format="iso")),
        "source_freshness": {s: d.isoformat() for s, d in freshness},
        "stale_sources": stale_sources(cfg, ctx),
        "validation_summary": "validation.html" if (staging_dir(cfg, ctx) / "validation.html").exists() else None,
        "model": {"version": model[0], "algorithm": model[1],
                  "metrics": json.loads(model[2]) if model[2] else None} if model else None,
        "stages": read_stage_summaries(cfg, ctx),
        "data_docs": "validation/data_docs/index.html" if docs.exists() else None,
        "outputs": written,
    }


def switch_latest(cfg: PlaceConfig, ctx: RunContext) -> Path:
    """Rename staging into `runs/<run_id>` and atomically point `latest` at it."""
    final = run_dir(cfg, ctx)
    staging_dir(cfg, ctx).rename(final)
    link = latest_link(cfg)
    tmp = cfg.out / f".latest-{ctx.run_id}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(os.path.relpath(final, cfg.out), tmp)
    os.replace(tmp, link)
    _fsync_dir(cfg.out)
    _fsync_dir(runs_dir(cfg))
    return final


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
