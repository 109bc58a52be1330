"""The real nightly DAG, end to end, on a small synthetic place (`dag.test()`, no scheduler).

Three runs share one place: a first load, a quiet night with no new
deliveries (the same lists, every row `same`), and a night whose configuration
breaks mid-run (recorded as failed; the previous lists stay published).
"""

from __future__ import annotations

import csv
import os
import re
import time
from datetime import date
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

DAG_ID = "nightly_stratification"
AS_OF = date(2026, 11, 20)
SEED = 1
PEOPLE = 3000
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _state(obj) -> str:
    return str(getattr(obj, "value", obj))


def read_lists(out: Path) -> dict[str, list[dict[str, str]]]:
    lists = {}
    for path in sorted((out / "latest" / "lists").glob("*.csv")):
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            lists[path.stem] = {"header": reader.fieldnames, "rows": rows}
    return lists


def run_dag(dag, config: Path, as_of: date) -> tuple[object, float]:
    t0 = time.perf_counter()
    dr = dag.test(run_conf={"config": str(config), "as_of": as_of.isoformat()})
    seconds = time.perf_counter() - t0
    print(f"\ndag.test() {DAG_ID}: {seconds:.1f} s, state {_state(dr.state)}")
    return dr, seconds


def runs_table(cfg) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        return con.execute("SELECT run_id, status, message FROM runs ORDER BY started_at").fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    from stratify.config import load_config
    from stratify.synth.generate import synthesize

    folder = tmp_path_factory.mktemp("place")
    path = folder / "place.yaml"
    path.write_text(
        "place: e2e\nlanding: landing\nwarehouse: e2e.duckdb\nout: out\n"
        "neighbourhoods: neighbourhoods.csv\ncapacity:\n  default: 50\n",
        encoding="utf-8",
    )
    cfg = load_config(path)
    synthesize(cfg, people=PEOPLE, as_of=AS_OF, seed=SEED)
    return path, cfg


@pytest.fixture(scope="module")
def dag(dagbag):
    assert dagbag.import_errors == {}
    return dagbag.dags[DAG_ID]


@pytest.fixture(scope="module")
def first_run(dag, place):
    path, cfg = place
    dr, seconds = run_dag(dag, path, AS_OF)
    return {"dr": dr, "seconds": seconds, "lists": read_lists(cfg.out), "latest": os.readlink(cfg.out / "latest")}


@pytest.fixture(scope="module")
def second_run(first_run, dag, place):
    path, cfg = place
    dr, seconds = run_dag(dag, path, AS_OF)
    return {"dr": dr, "seconds": seconds, "lists": read_lists(cfg.out), "latest": os.readlink(cfg.out / "latest")}


def test_first_run_succeeds_and_publishes_latest(first_run, place):
    _, cfg = place
    assert _state(first_run["dr"].state) == "success"
    runs = runs_table(cfg)
    assert len(runs) == 1
    run_id, status, _ = runs[0]
    assert status == "published"
    latest = cfg.out / "latest"
    assert latest.is_symlink()
    assert latest.resolve() == (cfg.out / "runs" / run_id).resolve()
    assert (latest / "manifest.json").is_file()


def test_every_team_gets_a_list_that_keeps_the_contract(first_run, place):
    from stratify.config import read_neighbourhoods
    from stratify.contract import load_contract

    _, cfg = place
    contract = load_contract()
    columns = list(contract.list_columns)
    assert columns[:8] == ["rank", "person_id", "household_id", "tier", "score", "reasons", "agencies", "change"]
    teams = set(read_neighbourhoods(cfg.neighbourhoods).values())
    lists = first_run["lists"]
    assert set(lists) == teams
    for team, lst in lists.items():
        header, rows = lst["header"], lst["rows"]
        assert header[: len(columns)] == columns, team
        for extra in header[len(columns):]:
            assert contract.identifier_kind(extra) is None, (team, extra)
        assert len(rows) <= cfg.capacity(team)
        assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
        assert {r["tier"] for r in rows} <= {"crisis", "wobbling"}
        assert_households_in_tier_order(team, rows)
        for r in rows:
            assert 0.0 <= float(r["score"]) <= 1.0
            assert HEX64.match(r["person_id"]), r["person_id"]
            assert r["household_id"] == "" or HEX64.match(r["household_id"])
            assert r["change"] == "new"  # nothing was published before


def assert_households_in_tier_order(team: str, rows: list[dict[str, str]]) -> None:
    """One plan per family: a household's members are listed together, where its highest-ranked member stands.

    So households led by someone in crisis come before households led by
    someone wobbling; inside a household, crisis members come first, then
    wobbling members by score. (A wobbling member may therefore be listed
    next to a crisis member of their household, ahead of other people in crisis.)
    """
    keys = [r["household_id"] or "person:" + r["person_id"] for r in rows]
    groups = [k for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k]
    assert len(groups) == len(set(groups)), f"{team}: a household is split"
    leads = [rows[keys.index(k)]["tier"] for k in groups]
    assert leads == sorted(leads, key=["crisis", "wobbling"].index), f"{team}: crisis-led households must come first"
    for k in groups:
        members = [r for r, key in zip(rows, keys) if key == k]
        tiers = [r["tier"] for r in members]
        assert tiers == sorted(tiers, key=["crisis", "wobbling"].index), (team, k)
        wob = [float(r["score"]) for r in members if r["tier"] == "wobbling"]
        assert wob == sorted(wob, reverse=True), (team, k)
    for a, b in zip(groups, groups[1:]):  # wobbling-led households by their lead's score
        ra, rb = rows[keys.index(a)], rows[keys.index(b)]
        if ra["tier"] == rb["tier"] == "wobbling":
            assert float(ra["score"]) >= float(rb["score"]), (team, a, b)


def test_every_team_has_its_workbook_report_and_the_place_an_overview(first_run, place):
    _, cfg = place
    latest = cfg.out / "latest"
    assert (latest / "overview.html").is_file()
    for team in first_run["lists"]:
        folder = latest / "teams" / team
        for name in (f"{team}.csv", f"{team}.xlsx", "report.html", "already_working.csv", "snoozed.csv", "dropped.csv"):
            assert (folder / name).is_file(), (team, name)


def test_brian_is_first_in_his_teams_crisis_tier(first_run):
    from stratify.synth.generate import brian_person_id

    brian = brian_person_id(SEED)
    found = [(team, r) for team, lst in first_run["lists"].items() for r in lst["rows"] if r["person_id"] == brian]
    assert len(found) == 1, "Brian must be on exactly one team's list"
    team, row = found[0]
    assert row["tier"] == "crisis" and row["rank"] == "1", (team, row)


def test_quiet_night_publishes_the_same_lists(first_run, second_run, place):
    _, cfg = place
    assert _state(second_run["dr"].state) == "success"
    assert second_run["latest"] != first_run["latest"]
    assert [s for _, s, _ in runs_table(cfg)] == ["published", "published"]
    before, after = first_run["lists"], second_run["lists"]
    assert set(after) == set(before)
    for team in before:
        key = lambda lst: [(r["rank"], r["person_id"], r["tier"]) for r in lst["rows"]]  # noqa: E731
        assert key(after[team]) == key(before[team]), team
        assert {r["change"] for r in after[team]["rows"]} <= {"same"}, team


def test_a_failed_run_is_recorded_and_the_last_lists_stay(second_run, dag, place):
    """A configuration broken mid-run (neighbourhoods file gone) fails at `link`, without retries."""
    path, cfg = place
    cfg.neighbourhoods.rename(cfg.neighbourhoods.with_suffix(".gone"))
    try:
        dr, _ = run_dag(dag, path, AS_OF)
    finally:
        cfg.neighbourhoods.with_suffix(".gone").rename(cfg.neighbourhoods)
    assert _state(dr.state) == "failed"
    run_id, status, message = runs_table(cfg)[-1]
    assert status == "failed"
    assert "failed" in message and "link" in message
    assert os.readlink(cfg.out / "latest") == second_run["latest"]
    assert read_lists(cfg.out) == second_run["lists"]
    # one place (the `config` param): the stages are map index 0 of the group `place`
    states = {ti.task_id.removeprefix("place."): _state(ti.state) for ti in dr.get_task_instances()}
    assert states["link"] == "failed" and states["publish"] == "upstream_failed"
    assert states["finish"] == "failed"
    # status.json's final word: the stage that failed first (not `finish`), what to do, the Airflow run
    from stratify.run.status import read_status

    status = read_status(cfg)
    assert (status["status"], status["stage"], status["run_id"]) == ("failed", "link", run_id)
    assert status["message"] == message and "correct the named key(s)" in status["action"]
    assert status["airflow"]["run_id"] == dr.run_id and status["airflow"]["task_id"] == "place.link"
    assert status["last_good"]["run_id"] == os.path.basename(second_run["latest"])
