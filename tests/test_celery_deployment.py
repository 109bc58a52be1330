"""Many places on Airflow's CeleryExecutor with PostgreSQL metadata: the whole deployment, on loopback.

`stratify.airflow.deployment` starts, with its own AIRFLOW_HOME (tmp), its
own PostgreSQL database (created here with a unique name, dropped at the end)
and its own Redis database number (claimed here, flushed at the end): `airflow
db migrate`, the scheduler, the API server, the DAG processor and two Celery
workers, `worker-a` and `worker-b`, on stratify's queue. One night is
triggered through the REST API (`/api/v2`, a token from `/auth/token`) for
three synthetic places:

- `alpha`: publishes; while its `validate` runs, the worker running it is
  SIGKILLed with every process under it (a lost machine); the task is failed
  for its missing heartbeat, retried on the other worker, and alpha's lists
  equal those of a clean run of the same deliveries (`stratify run`, no Airflow);
  once the retry runs, the lost worker is started again (as a replaced machine
  would be), so the rest of the night has two workers again;
- `beta`: publishes, but only after another process that held beta's run lock
  let it go: its `start_run` was refused (RunLocked) and retried meanwhile;
- `gamma`: its register and health deliveries are broken (truncated Parquet):
  refused, so gamma is held, and holds back no other place.

Everything started is stopped by process id (process groups). The module
skips, saying which, only if PostgreSQL or Redis is unreachable and cannot be
started with `deploy/ensure-services.sh`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from test_many_places import runs_table, write_place

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parent.parent
DAG_ID = "nightly_stratification"
AS_OF = date(2026, 11, 20)
PEOPLE = 3000
WORKERS = ("worker-a", "worker-b")
RUN_TIMEOUT_S = 900  # a guard only: about 3 minutes on a quiet machine


# --------------------------------------------------------------------------- services, database, broker


@pytest.fixture(scope="module")
def services() -> None:
    """PostgreSQL and Redis answer; any that does not is started (deploy/ensure-services.sh), else skip."""
    from stratify.airflow.namespace import postgres_error, redis_error

    down = [name for name, check in (("postgresql", postgres_error), ("redis", redis_error)) if check()]
    if down:
        done = subprocess.run(["bash", str(PROJECT / "deploy" / "ensure-services.sh"), *down],
                              capture_output=True, text=True, timeout=180)
        errors = [e for e in (postgres_error(), redis_error()) if e]
        if errors:
            pytest.skip(f"unreachable and could not be started: {'; '.join(errors)} "
                        f"(ensure-services.sh said: {done.stdout.strip()} {done.stderr.strip()})")


@pytest.fixture(scope="module")
def database(services):
    """A PostgreSQL database of this test's own (metadata and Celery results), dropped at the end."""
    from stratify.airflow.namespace import create_database, drop_database

    name, url = create_database()
    try:
        yield url
    finally:
        drop_database(name)


@pytest.fixture(scope="module")
def broker(services):
    """A Redis database number of this test's own (an empty one, claimed atomically), flushed at the end."""
    from stratify.airflow.namespace import claim_redis_db, release_redis_db

    db, url = claim_redis_db()
    try:
        yield url
    finally:
        release_redis_db(db)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- places


def synth_place(root: Path, name: str, seed: int) -> Path:
    from stratify.config import load_config
    from stratify.synth.generate import synthesize

    path = write_place(root / name, name)
    cfg = load_config(path)
    synthesize(cfg, people=PEOPLE, as_of=AS_OF, years=1, seed=seed)
    for correction in cfg.landing.glob("*/*_2.parquet"):  # fewer files to validate: a quicker night
        correction.unlink()
    return path


def break_deliveries(landing: Path, sources: tuple[str, ...]) -> None:
    """Each named source's delivery loses its second half: no longer a readable Parquet file."""
    for source in sources:
        for path in (landing / source).glob("*.parquet"):
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, Path]:
    from stratify.config import load_config

    root = tmp_path_factory.mktemp("celery-places")
    paths = {name: synth_place(root, name, seed) for name, seed in (("alpha", 3), ("beta", 4), ("gamma", 5))}
    shutil.copytree(root / "alpha", root / "reference")  # the same deliveries, for a clean run without Airflow
    paths["reference"] = root / "reference" / "place.yaml"
    break_deliveries(load_config(paths["gamma"]).landing, ("register", "health"))
    return paths


def published_lists(config: Path) -> dict[str, bytes]:
    from stratify.config import load_config

    return {p.name: p.read_bytes() for p in sorted((load_config(config).out / "latest" / "lists").glob("*.csv"))}


# --------------------------------------------------------------------------- the deployment and its API

@pytest.fixture(scope="module")
def deployment(tmp_path_factory, database, broker, places):
    from stratify.airflow.deployment import Launcher, Settings
    from stratify.airflow.rest import AirflowApi

    home = tmp_path_factory.mktemp("celery-airflow-home")
    reference_log = home / "reference-run.log"
    with open(reference_log, "wb") as log:  # the clean run, meanwhile (no Airflow, same deliveries as alpha)
        reference = subprocess.Popen([sys.executable, "-m", "stratify.cli", "run", "--config", str(places["reference"]),
                                      "--as-of", AS_OF.isoformat()], cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
    settings = Settings(airflow_home=home, database_url=database, broker_url=broker, api_port=free_port(),
                        workers=WORKERS, worker_concurrency=1, pool_slots=2, heartbeat_timeout_s=20,
                        schedule=False, log_server_ports={w: free_port() for w in WORKERS}, project_root=PROJECT)
    launcher = Launcher(settings)
    t0 = time.monotonic()
    try:
        launcher.migrate()
        launcher.start_all()
        launcher.set_pool()  # while the services start
        launcher.wait_ready(timeout=300)
        print(f"\ndeployment ready in {time.monotonic() - t0:.1f} s at {settings.api_url}")
        reference.wait(timeout=300)
        assert reference.returncode == 0, reference_log.read_text(errors="replace")[-3000:]
        yield {"launcher": launcher, "settings": settings, "api": AirflowApi(settings.api_url, home)}
    finally:
        if reference.poll() is None:
            os.killpg(reference.pid, 9)
            reference.wait()
        launcher.stop_all()


def _hold_lock(config: Path) -> subprocess.Popen:
    """Another process takes `config`'s run lock (as a run elsewhere would) and keeps it until told."""
    code = ("import sys; from datetime import date; from stratify.config import load_config; "
            "from stratify.run import lock; cfg = load_config(sys.argv[1]); "
            "lock.acquire(cfg, 'held-by-another-process', date(2026, 11, 20), False, lambda r: None); "
            "print('held', flush=True); sys.stdin.readline(); "
            "print('released' if lock.release(cfg, 'held-by-another-process') else 'lost', flush=True)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(config)], cwd=PROJECT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    assert proc.stdout.readline().strip() == "held", proc.communicate()[0]
    return proc


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def night(deployment, places):
    """One triggered night for alpha, beta, gamma; kills alpha's validate worker; releases beta's lock."""
    import httpx

    api, launcher = deployment["api"], deployment["launcher"]
    api.wait_for_dag(DAG_ID)
    holder = _hold_lock(places["beta"])
    configs = [str(places[p]) for p in ("alpha", "beta", "gamma")]
    t0 = time.monotonic()
    run_id = api.trigger(DAG_ID, {"configs": configs, "as_of": AS_OF.isoformat()})
    events: dict = {}
    try:
        while True:
            try:
                tis = api.task_instances(DAG_ID, run_id)
                state = api.run(DAG_ID, run_id)["state"]
            except httpx.TimeoutException:  # a busy machine: ask again
                time.sleep(1)
                continue
            validate = tis.get(("place.validate", 0)) or {}
            if "killed" not in events and validate.get("state") == "running" and validate.get("hostname"):
                worker = validate["hostname"]
                events["killed"] = {"worker": worker, "try": validate["try_number"], "at": _now(),
                                    "pids": launcher.kill(worker)}
            killed = events.get("killed")
            if killed and "restarted" not in events and validate.get("try_number", 0) > killed["try"] \
                    and validate.get("state") == "running" and validate.get("hostname") not in (None, killed["worker"]):
                launcher.start_worker(killed["worker"])  # its task runs elsewhere now: back to two workers
                events["restarted"] = _now()
            beta_start = tis.get(("place.start_run", 1)) or {}
            if "released" not in events and beta_start.get("state") == "up_for_retry":
                holder.stdin.write("\n")
                holder.stdin.flush()
                events["released"] = {"at": _now(), "said": holder.stdout.readline().strip()}
            if state in ("success", "failed"):
                break
            assert time.monotonic() - t0 < RUN_TIMEOUT_S, (
                f"the night did not finish in {RUN_TIMEOUT_S} s: "
                f"{ {f'{t}[{i}]': (ti['state'], ti['hostname']) for (t, i), ti in tis.items()} }")
            for name, proc in launcher.procs.items():
                if name != events.get("killed", {}).get("worker") or "restarted" in events:
                    assert proc.poll() is None, f"{name} died: {launcher.log_tail(name)}"
            time.sleep(0.5)
    finally:
        if holder.poll() is None:
            holder.stdin.close()
            holder.wait(timeout=30)
    print(f"\nthe night on the CeleryExecutor: {time.monotonic() - t0:.1f} s, state {state}")
    tries = {(task_id.removeprefix("place."), map_index): api.tries(DAG_ID, run_id, task_id, map_index)
             for (task_id, map_index) in tis if task_id.startswith("place.")}
    return {"state": state, "tries": tries, "events": events, "run_id": run_id}


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


# --------------------------------------------------------------------------- what is checked


def test_each_good_place_published_its_lists(night, places):
    from stratify.config import load_config

    assert night["state"] == "success", night["tries"]  # gamma is held, which is not a failure
    for name in ("alpha", "beta"):
        (_, place, status, _), = runs_table(load_config(places[name]))
        assert (place, status) == (name, "published")
        assert published_lists(places[name]), f"{name} published no list"


def test_the_places_tasks_ran_on_both_workers(night):
    hosts = {t["hostname"] for tries in night["tries"].values() for t in tries if t["hostname"]}
    assert hosts == set(WORKERS), hosts


def test_a_place_whose_deliveries_are_broken_holds_back_no_other(night, places):
    from stratify.config import load_config
    from stratify.run.status import read_status

    cfg = load_config(places["gamma"])
    (_, _, status, message), = runs_table(cfg)
    assert status == "held" and "register" in message, message
    assert not (cfg.out / "latest").exists()
    assert sorted(p.name for p in (cfg.quarantine / "register").glob("*.reason.txt")), "no reason kept"
    assert read_status(cfg)["status"] == "held"
    for map_index in (0, 1):  # alpha and beta: every stage succeeded in the end
        assert {tries[-1]["state"] for (task, i), tries in night["tries"].items() if i == map_index} == {"success"}


def test_a_killed_worker_has_its_task_retried_on_the_other_worker(night):
    killed = night["events"].get("killed")
    assert killed, "alpha's validate was never seen running, so no worker was killed"
    first, *later = night["tries"][("validate", 0)]
    assert (first["try_number"], first["hostname"], first["state"]) == (killed["try"], killed["worker"], "failed")
    other = next(w for w in WORKERS if w != killed["worker"])
    assert later and (later[-1]["hostname"], later[-1]["state"]) == (other, "success"), later
    for pid in killed["pids"]:  # the worker and every process under it are gone
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    print(f"\nkilled {killed['worker']} (pids {killed['pids']}) during alpha's validate try {killed['try']}; "
          f"try {later[-1]['try_number']} ran on {later[-1]['hostname']}: {later[-1]['state']}")


def test_the_killed_place_equals_a_clean_run(night, places):
    clean, after_kill = published_lists(places["reference"]), published_lists(places["alpha"])
    assert clean and set(after_kill) == set(clean)
    assert all(after_kill[name] == clean[name] for name in clean), "alpha's lists differ from a clean run's"


def test_a_place_whose_run_lock_another_process_holds_waits_for_it(night, deployment, places):
    released = night["events"].get("released")
    assert released and released["said"] == "released", night["events"]
    first, *later = night["tries"][("start_run", 1)]
    assert first["state"] == "failed" and later and later[-1]["state"] == "success", night["tries"][("start_run", 1)]
    log = deployment["api"].log(DAG_ID, night["run_id"], "place.start_run", first["try_number"], map_index=1)
    assert "another run of place beta is active" in log, "the refusal is not in the task's log"
    pull, = night["tries"][("pull", 1)]
    assert _when(pull["start_date"]) > released["at"], "beta's stages ran while another process held its lock"


def test_everything_it_started_it_stops(deployment):
    import psutil

    launcher = deployment["launcher"]
    trees = {name: [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
             for name, proc in launcher.procs.items() if proc.poll() is None}
    assert set(trees) == {"scheduler", "api-server", "dag-processor", *WORKERS}  # the killed worker was restarted
    launcher.stop_all()
    left = {name: [p.pid for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
            for name, tree in trees.items()}
    assert not any(left.values()), left



def test_a_lock_taken_on_another_host_is_judged_by_its_run_not_its_process(tmp_path):
    """A worker cannot check a process on another machine: only the holder's run (closed?) and age decide."""
    from stratify.config import load_config
    from stratify.run import lock

    path = write_place(tmp_path / "place", "place")
    (path.parent / "neighbourhoods.csv").write_text("lsoa21,team\nE01000001,NT01\n", encoding="utf-8")
    cfg = load_config(path)
    elsewhere = {"run_id": "20261120-af-elsewhere", "as_of": AS_OF.isoformat(), "pid": 1, "proc_started": None,
                 "host": "worker-b.elsewhere.invalid", "started_at": _now().isoformat(), "spans_processes": True}
    lock.lock_path(cfg).parent.mkdir(parents=True, exist_ok=True)
    lock.lock_path(cfg).write_text(json.dumps(elsewhere), encoding="utf-8")
    for status in ("running", None):  # its run still open, or not yet visible in this warehouse: refused
        with pytest.raises(lock.RunLocked, match="worker-b.elsewhere.invalid"):
            lock.acquire(cfg, "20261120-af-here", AS_OF, True, lambda run_id, s=status: s)
    taken, cleared = lock.acquire(cfg, "20261120-af-here", AS_OF, True, lambda run_id: "published")
    assert taken and cleared["run_id"] == elsewhere["run_id"] and "recorded as published" in cleared["stale_because"]
    assert lock.current_holder(cfg)["run_id"] == "20261120-af-here"


def test_every_component_gets_one_deployment_and_each_worker_its_own_name(tmp_path, monkeypatch):
    from stratify.airflow.callbacks import DEFAULT_ARGS
    from stratify.airflow.deployment import Settings, component_env, worker_hostname

    settings = Settings(airflow_home=tmp_path / "home", database_url="postgresql+psycopg2://u@127.0.0.1:5432/d",
                        broker_url="redis://127.0.0.1:6379/7", api_port=18080, log_server_ports={"worker-a": 18793})
    service, worker = component_env(settings), component_env(settings, "worker-a")
    assert service["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert service["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql+psycopg2://u@127.0.0.1:5432/d"
    assert service["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert service["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == DEFAULT_ARGS["queue"] == "stratify"
    shared = ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    assert all(service[k] and service[k] == worker[k] for k in shared)  # one deployment, one set of secrets
    assert oct((tmp_path / "home" / "secrets.json").stat().st_mode & 0o777) == "0o600"
    assert "STRATIFY_WORKER_NAME" not in service and worker["STRATIFY_WORKER_NAME"] == "worker-a"
    assert worker["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] == "18793"
    monkeypatch.setenv("STRATIFY_WORKER_NAME", "worker-a")
    assert worker_hostname() == "worker-a"
