"""Publish the night's lists per neighbourhood team, atomically.

The lists are the rank stage's (the `lists` table): publish renders them
(CSV, workbook, team page, overview, validation page) and switches.
Everything is written into the run's staging folder first; the folder is then
renamed into `<out>/runs/<run_id>/` and `<out>/latest` is switched to it in
one `os.replace` of a symbolic link. Until that last step, the previous
published run is what everyone sees; a run that fails before it leaves
`latest` untouched.
"""

from __future__ import annotations

import csv
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from stratify import __version__
from stratify.baseline.page import published_baseline_files
from stratify.config import PlaceConfig
from stratify.contract import load_contract
from stratify.errors import PublishHeld  # noqa: E402 (raised here; defined with stratify's other errors)
from stratify.files.durable import fsync_dir, sha256_file
from stratify.files.permissions import private_umask, restrict, restrict_tree, write_private_text
from stratify.lists.history import save_history
from stratify.lists.queries import load_trends
from stratify.lists.table import load_lists
from stratify.lists.team import EXTRA_COLUMNS, list_totals
from stratify.measures import IMPACT_FILE
from stratify.publish.about_list import TEXT_NAME, as_text, load_list_facts
from stratify.publish.overview import TREND_RUNS, load_population, write_overview
from stratify.publish.team_page import shown_timelines, write_team_folder
from stratify.publish.validation_page import SourceFreshness, source_freshness, stale_sources, write_validation_summary
from stratify.run.audit import record_publications
from stratify.run.context import RunContext, latest_link, run_dir, runs_dir, staging_dir
from stratify.run.summaries import read_stage_summaries, write_stage_summary
from stratify.warehouse.connect import connect
from stratify.warehouse.sql import fetch_one


def publication_gate(cfg: PlaceConfig, ctx: RunContext) -> str | None:
    """Why this run must publish nothing, or None: a refused register, or too many refused sources."""
    with connect(cfg) as con:
        rows = con.execute(
            "SELECT source, decision FROM deliveries WHERE run_id = $1 AND source IS NOT NULL", [ctx.run_id]
        ).fetchall()
        registered = fetch_one(con, "SELECT count(*) FROM raw_register")[0]
    if registered == 0:
        return "no person register has ever been loaded; deliver a register before lists can be published"
    if any(s == "register" and d in ("refused", "held") for s, d in rows):
        return "tonight's register delivery was refused or held; the last good lists stay published"
    # A source counts as refused when it delivered tonight and none of its files got in.
    good = {s for s, d in rows if d in ("accepted", "accepted_with_warnings")}
    bad = {s for s, d in rows if d in ("refused", "held")} - good
    delivered = good | bad
    if delivered and len(bad) / len(delivered) > cfg.validation.max_refused_share:
        return (f"{len(bad)} of {len(delivered)} sources delivered tonight were refused or held "
                f"(more than {cfg.validation.max_refused_share:.0%}); the last good lists stay published")
    return None


def write_list(path: Path, rows: pd.DataFrame) -> None:
    """The contract's list CSV: its columns first, in its order, then the lists' own (EXTRA_COLUMNS)."""
    columns = list(load_contract().list_columns) + [c for c in EXTRA_COLUMNS if c not in load_contract().list_columns]
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = rows.assign(score=rows["score"].map(lambda s: f"{s:.4f}"), household_id=rows["household_id"].fillna(""))
    for col, text in (("cost_12m_gbp", "{:.2f}"), ("assessments_12m", "{:.0f}")):  # the costs stage's columns
        if col in rows.columns:
            rows[col] = rows[col].map(lambda v, text=text: "" if pd.isna(v) else text.format(float(v)))
    rows.reindex(columns=columns).to_csv(path, index=False, encoding="utf-8", quoting=csv.QUOTE_MINIMAL,
                                         lineterminator="\n")


def list_notices(stages: dict) -> list[str]:
    """What a team must know about tonight's list as a whole (e.g. the wobbling tier is missing), in plain words."""
    notices = []
    if (stages.get("score") or stages.get("model") or {}).get("warning"):
        notices.append("No wobbling model could be used tonight (the one trained was held back), so this list "
                       "shows the crisis tier only.")
    return notices


def publish_lists(cfg: PlaceConfig, ctx: RunContext) -> dict:
    """Write lists and the manifest into staging, check them, then publish the run and switch `latest`.

    Running it again for a run that `latest` already shows (an Airflow retry
    after the switch) changes nothing and returns the same summary.
    """
    done = already_published(cfg, ctx)
    if done:
        return done
    held = publication_gate(cfg, ctx)
    stage = staging_dir(cfg, ctx)
    if held:  # IG still get the night's record: validation.html stays in the staging folder
        write_stage_summary(cfg, ctx, "publish", {"published": False, "reason": held})
        summary = write_validation_summary(cfg, ctx, stage, "held", held)
        restrict_tree(stage)
        raise PublishHeld(f"{held}. What arrived and why it was refused or held: {summary}")
    teams = load_lists(cfg, ctx)  # as the rank stage built and explained them
    written, team_files = [], []
    with private_umask():  # everything published is created 0o640 / 0o750
        freshness = source_freshness(cfg, ctx)
        timelines = shown_timelines(cfg, ctx.as_of, teams)
        summaries = read_stage_summaries(cfg, ctx)
        notices = list_notices(summaries)
        facts = load_list_facts(cfg, ctx.run_id, ctx.as_of, freshness)  # what every page says about the list
        for team, t in teams.items():
            path = stage / "lists" / f"{team}.csv"
            write_list(path, t.listed)
            written.append({"team": team, "path": f"lists/{team}.csv", "rows": len(t.listed), "sha256": sha256_file(path)})
            team_files += write_team_folder(cfg, ctx.run_id, ctx.as_of, stage, t, path, freshness, timelines, notices,
                                            facts)
        # the contract fixes the list CSV's columns: what the list is goes in a text file beside the CSVs
        write_private_text(stage / "lists" / TEXT_NAME, as_text(facts, cfg.suppression))
        team_files.append({"path": f"lists/{TEXT_NAME}"})
        overview = write_overview(cfg, ctx.run_id, ctx.as_of, stage, teams, load_trends(cfg, TREND_RUNS), freshness,
                                  notices, load_population(cfg), facts, summaries.get("measure"))
        team_files.append({"path": overview.name})
        if (stage / IMPACT_FILE).exists():  # the measure stage's estimate of what engagement changed
            team_files.append({"path": IMPACT_FILE})
        team_files += published_baseline_files(cfg, ctx.as_of, stage)  # baseline.html, baseline.json
        for f in team_files:
            f["sha256"] = sha256_file(stage / f["path"])
        write_stage_summary(cfg, ctx, "publish", {"published": True, "lists": len(written), **list_totals(teams)})
        summary = write_validation_summary(cfg, ctx, stage, "published", outputs=written, freshness=freshness)
        outputs = written + team_files + [{"path": summary.name, "sha256": sha256_file(summary)}]
        manifest = build_manifest(cfg, ctx, outputs, freshness)
        (stage / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=False, default=str), encoding="utf-8")
    restrict_tree(stage)  # files other stages wrote under the process umask
    restrict(runs_dir(cfg))
    check_publication(cfg, stage, written)
    # Recorded before the switch, so that a run killed after it has its records; a run killed
    # before it loses them again (`audit.recover_interrupted_run`), as does a failed switch here.
    record_publications(cfg, ctx, outputs + [{"path": "manifest.json", "sha256": sha256_file(stage / "manifest.json")}])
    save_history(cfg, ctx, datetime.fromisoformat(manifest["published_at"]), teams)
    try:
        final = switch_latest(cfg, ctx)
    except BaseException:
        undo_switch(cfg, ctx)
        raise
    return {"run_dir": str(final), "lists": len(written), "people": sum(w["rows"] for w in written)}


from stratify.errors import PublishCheckFailed  # noqa: E402 (raised here; defined with stratify's other errors)


def check_publication(cfg: PlaceConfig, stage: Path, written: list[dict]) -> None:
    """Audit what was built before it is published: raise `PublishCheckFailed` naming every problem.

    Every configured team has its list, each list has the contract's columns
    in order and no column named like a direct identifier, its row count is
    what was written, ranks run 1..n, pseudonyms are pseudonyms, tiers and
    changes are the contract's, scores are numbers in [0, 1], and the manifest
    lists each file with its sha256. Messages name file, row and column, never values.
    """
    contract = load_contract()
    problems: list[str] = []
    rows_written = {w["team"]: w["rows"] for w in written}
    listed = {p.stem for p in (stage / "lists").glob("*.csv")}
    for team in sorted(set(cfg.teams) - listed):
        problems.append(f"lists/{team}.csv: missing (team {team} is configured)")
    for team in sorted(listed - set(cfg.teams)):
        problems.append(f"lists/{team}.csv: {team} is not a configured team")
    pseudonym = contract.patterns["pseudonym"]
    for team in sorted(listed & set(cfg.teams)):
        problems += check_list_file(stage / "lists" / f"{team}.csv", rows_written.get(team), pseudonym)
    try:
        manifest = json.loads((stage / "manifest.json").read_text(encoding="utf-8"))
        shas = {o["path"]: o.get("sha256") for o in manifest["outputs"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problems.append(f"manifest.json: missing or unreadable ({type(exc).__name__})")
        shas = None
    for w in written if shas is not None else ():
        if shas.get(w["path"]) != sha256_file(stage / w["path"]):
            problems.append(f"{w['path']}: its sha256 differs from the manifest's")
    if problems:
        shown = "; ".join(problems[:20]) + (f"; and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise PublishCheckFailed(f"the lists built in {stage} failed {len(problems)} check(s) and were not "
                                 f"published: {shown}")


def check_list_file(path: Path, expected_rows: int | None, pseudonym: str) -> list[str]:
    """The problems of one team's list CSV (see `check_publication`)."""
    contract = load_contract()
    name = f"lists/{path.name}"
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        return [f"{name}: unreadable ({type(exc).__name__})"]
    problems = []
    want = list(contract.list_columns)
    if list(df.columns[:len(want)]) != want:
        problems.append(f"{name}: columns must start {', '.join(want)}")
    for col in df.columns:
        kind = contract.identifier_kind(col)
        if kind and col not in want:
            problems.append(f"{name}: column {col} is named like a direct identifier ({kind})")
    if expected_rows is not None and len(df) != expected_rows:
        problems.append(f"{name}: {len(df)} rows, {expected_rows} were written")
    if not set(want) <= set(df.columns):
        return problems
    if df["rank"].tolist() != [str(i) for i in range(1, len(df) + 1)]:
        problems.append(f"{name}: ranks are not 1..{len(df)}")
    checks = {
        "person_id": ~df["person_id"].str.fullmatch(pseudonym),
        "household_id": (df["household_id"] != "") & ~df["household_id"].str.fullmatch(pseudonym),
        "tier": ~df["tier"].isin(contract.raw["published_list"]["tiers"]),
        "change": ~df["change"].isin(contract.raw["published_list"]["changes"]),
        "score": ~pd.to_numeric(df["score"], errors="coerce").between(0, 1),
    }
    optional = {  # the contract's columns a list may carry beyond the required ones, when it does
        "cost_12m_gbp": lambda c: ~c.str.fullmatch(r"\d+\.\d\d"),
        "assessments_12m": lambda c: ~c.str.fullmatch(r"\d+"),
        "priorities": lambda c: (c != "") & ~c.str.fullmatch(r"[A-Za-z0-9_.-]+(; [A-Za-z0-9_.-]+)*"),
    }
    checks.update({col: rule(df[col]) for col, rule in optional.items() if col in df.columns})
    for col, bad in checks.items():
        if bad.any():
            first = int(bad.to_numpy().argmax()) + 2  # file line: header is line 1
            problems.append(f"{name}: column {col} breaks the list format in {int(bad.sum())} row(s), first at line {first}")
    return problems


def undo_switch(cfg: PlaceConfig, ctx: RunContext) -> None:
    """After a failed switch: the run folder goes back to staging unless `latest` points at it; records removed."""
    from stratify.run.audit import forget_publication

    link, final = latest_link(cfg), run_dir(cfg, ctx)
    if link.is_symlink() and Path(os.readlink(link)).name == ctx.run_id:
        return  # the switch happened: the run is published
    if final.is_dir() and not staging_dir(cfg, ctx).exists():
        final.rename(staging_dir(cfg, ctx))
    forget_publication(cfg, ctx)


def already_published(cfg: PlaceConfig, ctx: RunContext) -> dict | None:
    """The summary of this run's publication if `latest` already shows it (a retried publish task)."""
    link = latest_link(cfg)
    if not (link.is_symlink() and Path(os.readlink(link)).name == ctx.run_id):
        return None
    lists = sorted((run_dir(cfg, ctx) / "lists").glob("*.csv"))
    people = sum(len(pd.read_csv(p, dtype=str, keep_default_na=False)) for p in lists)
    return {"run_dir": str(run_dir(cfg, ctx)), "lists": len(lists), "people": people, "already_published": True}


def build_manifest(cfg: PlaceConfig, ctx: RunContext, written: list[dict],
                   sources: list[SourceFreshness] | None = None) -> dict:
    """What the run read, decided, used and wrote (contract: Published lists, version 1).

    `sources`: tonight's `source_freshness` when already read (nothing
    changes the deliveries between the lists and the manifest).
    """
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
    stages = read_stage_summaries(cfg, ctx)
    return {
        "manifest_version": 1,
        "run_id": ctx.run_id,
        "place": cfg.place,
        "as_of": ctx.as_of.isoformat(),
        "published_at": datetime.now(UTC).isoformat(),
        "stratify_version": __version__,
        "contract_version": load_contract().version,
        "config": {"path": str(cfg.path), "sha256": sha256_file(cfg.path)},
        "deliveries": json.loads(deliveries.to_json(orient="records", date_format="iso")),
        "source_freshness": {s: d.isoformat() for s, d in freshness},
        "stale_sources": stale_sources(cfg, ctx, sources),
        "validation_summary": "validation.html" if (staging_dir(cfg, ctx) / "validation.html").exists() else None,
        "model": {"version": model[0], "algorithm": model[1],
                  "metrics": json.loads(model[2]) if model[2] else None} if model else None,
        "stages": stages,
        "fairness": stages.get("measure", {}).get("fairness"),  # the contract's fairness.selection_rates
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
    fsync_dir(cfg.out)
    fsync_dir(runs_dir(cfg))
    return final
