"""Many places in one nightly DAG run: one mapped task group per place, none holding back another.

Three small places run in one `dag.test()` (param `configs`):

- `good`: publishes its lists;
- `refused`: its register carries a column named like a surname, so the
  register is refused (and with no register, every event delivery too): the
  place is held, nothing published, its run recorded `held`;
- `broken`: its configuration is invalid (an unknown key): that place's `start_run` fails
  without retries and its `finish` fails; nothing is written for it.

The DAG run as a whole is failed (one place failed), yet `good` published and
`refused` was closed as held, each in its own warehouse.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow

DAG_ID = "nightly_stratification"
AS_OF = date(2026, 11, 20)
PEOPLE = 1_500


def _state(obj) -> str:
    return str(getattr(obj, "value", obj))


def write_place(folder: Path, name: str, extra: str = "") -> Path:
    """A place YAML with its own landing, warehouse and outputs; a short training history keeps it quick.

    A year of history is too little to train a wobbling model: the places publish their crisis tier (what
    is tested here is how places are mapped and kept apart, not the model).
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "place.yaml"
    path.write_text(
        f"place: {name}\nlanding: landing\nwarehouse: {name}.duckdb\nout: out\n"
        "neighbourhoods: neighbourhoods.csv\ncapacity:\n  default: 50\n"
        "model:\n  history_months: 12\n" + extra,
        encoding="utf-8",
    )
    return path


def add_surname_column(landing: Path) -> None:
    """Every register delivery gains a `surname` column: a direct identifier, so the register is refused."""
    for path in sorted((landing / "register").glob("*.parquet")):
        table = pq.read_table(path)
        pq.write_table(table.append_column("surname", pa.array(["REDACTED"] * table.num_rows)), path)


def runs_table(cfg) -> list[tuple]:
    from stratify.warehouse.database import connect

    with connect(cfg, read_only=True) as con:
        return con.execute("SELECT run_id, place, status, message FROM runs ORDER BY started_at").fetchall()


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    from stratify.config import load_config
    from stratify.synth.generate import synthesize

    root = tmp_path_factory.mktemp("places")
    good = write_place(root / "good", "good")
    refused = write_place(root / "refused", "refused")
    for path, seed in ((good, 3), (refused, 4)):
        cfg = load_config(path)
        synthesize(cfg, people=PEOPLE, as_of=AS_OF, years=1, seed=seed)
        for correction in cfg.landing.glob("*/*_2.parquet"):  # the generator's corrections: fewer files to validate
            correction.unlink()
    add_surname_column(load_config(refused).landing)
    broken = write_place(root / "broken", "broken", extra="capacity_typo: 3\n")  # an unknown key: refused
    return {"good": good, "refused": refused, "broken": broken}


@pytest.fixture(scope="module")
def dag_run(dagbag, places):
    assert dagbag.import_errors == {}
    dag = dagbag.dags[DAG_ID]
    t0 = time.perf_counter()
    dr = dag.test(run_conf={"configs": [str(places[k]) for k in ("good", "refused", "broken")],
                            "as_of": AS_OF.isoformat()})
    print(f"\ndag.test() {DAG_ID}, three places: {time.perf_counter() - t0:.1f} s, state {_state(dr.state)}")
    return dr


def states_by_place(dr) -> dict[int, dict[str, str]]:
    """{map index: {task name without the group: state}} for the mapped group's task instances."""
    out: dict[int, dict[str, str]] = {}
    for ti in dr.get_task_instances():
        if ti.task_id.startswith("place."):
            out.setdefault(ti.map_index, {})[ti.task_id.removeprefix("place.")] = _state(ti.state)
    return out


def test_each_place_has_its_own_map_index_and_outcome(dag_run):
    states = states_by_place(dag_run)
    assert sorted(states) == [0, 1, 2]  # configs order: good, refused, broken
    good, refused, broken = states[0], states[1], states[2]
    assert set(good.values()) == {"success"}, good
    assert refused["publish"] == "success" and refused["finish"] == "success", refused  # held is not a failure
    assert broken["start_run"] == "failed" and broken["finish"] == "failed", broken
    assert {broken[t] for t in ("pull", "validate", "publish")} == {"upstream_failed"}, broken
    assert _state(dag_run.state) == "failed"  # one place failed, so the night did


def test_the_grid_names_each_map_index_after_its_place(dag_run, places):
    labels = {}
    for ti in dag_run.get_task_instances():
        if ti.task_id in ("place.start_run", "place.publish"):
            labels[(ti.map_index, ti.task_id)] = ti.rendered_map_index
    assert labels[(0, "place.start_run")] == labels[(0, "place.publish")] == "good"
    assert labels[(1, "place.start_run")] == labels[(1, "place.publish")] == "refused"
    assert labels[(2, "place.start_run")] == str(places["broken"])  # its name was never read: its YAML instead


def test_the_good_place_published_despite_the_others(dag_run, places):
    from stratify.config import load_config

    cfg = load_config(places["good"])
    (run_id, place, status, _), = runs_table(cfg)
    assert (place, status) == ("good", "published")
    latest = cfg.out / "latest"
    assert latest.is_symlink() and latest.resolve() == (cfg.out / "runs" / run_id).resolve()
    assert sorted(p.name for p in (latest / "lists").glob("*.csv"))


def test_the_refused_register_holds_only_its_own_place(dag_run, places):
    from stratify.config import load_config

    cfg = load_config(places["refused"])
    (_, place, status, message), = runs_table(cfg)
    assert (place, status) == ("refused", "held")
    assert "register" in message
    assert not (cfg.out / "latest").exists()
    assert any(p.name.startswith("register_") for p in (cfg.quarantine / "register").iterdir())
    from stratify.run.status import read_status

    assert (read_status(cfg)["status"], read_status(cfg)["stage"]) == ("held", "publish")


def test_a_place_whose_configuration_cannot_be_read_gets_no_status_file(dag_run, places):
    """Its `out` is unknown; the failure callback only logs (and must not write another place's file)."""
    assert not list(places["broken"].parent.rglob("status.json"))


def test_places_share_nothing(places):
    from stratify.config import load_config

    good, refused = load_config(places["good"]), load_config(places["refused"])
    assert good.warehouse != refused.warehouse and good.out != refused.out and good.landing != refused.landing
