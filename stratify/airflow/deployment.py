"""A CeleryExecutor deployment of Airflow for stratify, started without Docker (docs/deployment.md).

One `Settings` describes the deployment: its own AIRFLOW_HOME, Airflow's
metadata database on PostgreSQL (which is also Celery's result backend), a
Celery broker (a Redis database number, or a RabbitMQ vhost), the API
server's address, and the Celery workers that serve stratify's queue
(`stratify`). From it:

- `component_env(settings, worker)` is the environment of every component
  (what a systemd `EnvironmentFile` holds: `python -m stratify.airflow.deployment env`);
- `Launcher` runs `airflow db migrate` and the pool, then starts the
  scheduler, the API server, the DAG processor and each Celery worker, each
  in its own process group with its output in `<AIRFLOW_HOME>/logs/services/`,
  and stops or kills them by process id (`python -m stratify.airflow.deployment up`).

The embedded default (`make demo`, the tests' `dag.test()`) stays on the
LocalExecutor with SQLite metadata: nothing here is used there.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from stratify.airflow.callbacks import STRATIFY_QUEUE
from stratify.airflow.env import WAREHOUSE_POOL
from stratify.resources import PROJECT_ROOT

SERVICES = ("scheduler", "api-server", "dag-processor")
WORKER_NAME_VARIABLE = "STRATIFY_WORKER_NAME"


def worker_hostname() -> str:
    """The hostname a task instance records: the worker's own name if it has one, else the machine's FQDN.

    `AIRFLOW__CORE__HOSTNAME_CALLABLE` points here on workers, so that two
    workers on one machine (the CI test) can be told apart in the UI; on
    separate machines the FQDN already does that.
    """
    import socket

    return os.environ.get(WORKER_NAME_VARIABLE) or socket.getfqdn()


@dataclass(frozen=True)
class Settings:
    """One deployment. URLs carry no password here (trust or peer auth, or a `.pgpass`)."""

    airflow_home: Path
    database_url: str  # postgresql+psycopg2://USER@HOST:PORT/DB: metadata and Celery results
    broker_url: str  # redis://HOST:PORT/N or amqp://USER:PASS@HOST:PORT/VHOST
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    queue: str = STRATIFY_QUEUE
    workers: tuple[str, ...] = ("worker-a", "worker-b")
    worker_concurrency: int = 1  # tasks at once per worker; each needs a place's DuckDB memory (docs/scaling.md)
    pool_slots: int = 2  # places at once, across all workers
    parallelism: int = 8
    heartbeat_timeout_s: int = 300  # a task whose worker stops heart-beating this long is failed and retried
    schedule: bool = True  # False: only triggered runs (tests and benchmarks), no 02:00 run
    log_server_ports: dict[str, int] = field(default_factory=dict)  # per worker; default 8793 each
    project_root: Path = PROJECT_ROOT

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def result_backend(self) -> str:
        return "db+" + self.database_url


def secrets_file(settings: Settings) -> Path:
    return Path(settings.airflow_home) / "secrets.json"


def deployment_secrets(settings: Settings) -> dict[str, str]:
    """The JWT secret, API secret key and Fernet key every component must share.

    Taken from the environment when set there (a secrets manager's job in
    production), else generated once into `<AIRFLOW_HOME>/secrets.json`
    (mode 0600) and read back from it afterwards.
    """
    names = ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY")
    if all(os.environ.get(n) for n in names):
        return {n: os.environ[n] for n in names}
    path = secrets_file(settings)
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    from cryptography.fernet import Fernet

    values = {names[0]: secrets.token_urlsafe(48), names[1]: secrets.token_urlsafe(32),
              names[2]: Fernet.generate_key().decode()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(values, fh)
    return values


def component_env(settings: Settings, worker: str | None = None) -> dict[str, str]:
    """Airflow's settings for every component (and, with `worker`, that Celery worker's own)."""
    home = Path(settings.airflow_home).resolve()
    root = Path(settings.project_root).resolve()
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(settings.parallelism),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.api_url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": settings.database_url,
        "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
        "AIRFLOW__CELERY__BROKER_URL": settings.broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": settings.result_backend,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(settings.worker_concurrency),
        # Longer than the nightly DAG's 8-hour timeout: Redis redelivers an unacknowledged task after this.
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": str(10 * 3600),
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": settings.queue,
        "AIRFLOW__API__HOST": settings.api_host,
        "AIRFLOW__API__PORT": str(settings.api_port),
        "AIRFLOW__API__BASE_URL": settings.api_url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(settings.heartbeat_timeout_s),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": str(
            max(2, min(10, settings.heartbeat_timeout_s // 4))),
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(settings.schedule),
        # The workers import this project's stratify, the same code as the DAGs folder.
        "PYTHONPATH": os.pathsep.join(dict.fromkeys([str(root), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])),
        **deployment_secrets(settings),
    }
    if worker is not None:
        env[WORKER_NAME_VARIABLE] = worker
        env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = f"{__name__}.worker_hostname"
        if worker in settings.log_server_ports:
            env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(settings.log_server_ports[worker])
    return env


def clean_environ() -> dict[str, str]:
    """This process's environment without any Airflow setting (ours replace them whole)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}


def airflow_bin() -> str:
    """The `airflow` command of this Python's environment."""
    return str(Path(sys.executable).with_name("airflow"))


def worker_argv(settings: Settings, worker: str) -> list[str]:
    return [airflow_bin(), "celery", "worker", "--queues", settings.queue,
            "--concurrency", str(settings.worker_concurrency), "--celery-hostname", f"{worker}@%h"]


def service_argv(service: str) -> list[str]:
    return [airflow_bin(), service]


class Launcher:
    """Starts and stops one deployment's processes, each in its own process group."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.logs = Path(settings.airflow_home) / "logs" / "services"
        self.procs: dict[str, subprocess.Popen] = {}

    def env(self, worker: str | None = None) -> dict[str, str]:
        return {**clean_environ(), **component_env(self.settings, worker)}

    def run(self, *args: str, timeout: float = 600) -> str:
        """An `airflow` command to its end (migrate, pools); its output, or an error quoting its tail."""
        self.logs.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([airflow_bin(), *args], env=self.env(), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed ({done.returncode}): "
                               f"{(done.stdout + done.stderr)[-2000:]}")
        return done.stdout

    def prepare(self) -> None:
        """`airflow db migrate` against the deployment's PostgreSQL database, then the warehouse pool."""
        self.migrate()
        self.set_pool()

    def migrate(self) -> None:
        Path(self.settings.airflow_home).mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.logs / "db-migrate.log").write_text(self.run("db", "migrate"), encoding="utf-8")

    def set_pool(self) -> None:
        """The `stratify_warehouse` pool's slots: how many places may run at once, across all workers."""
        self.run("pools", "set", WAREHOUSE_POOL, str(self.settings.pool_slots),
                 "stratify DuckDB warehouses: places at once, one writer per warehouse")

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        """Start one process in a new session (its own process group); output to `logs/services/NAME.log`."""
        if name in self.procs and self.procs[name].poll() is None:
            raise RuntimeError(f"{name} is already running (pid {self.procs[name].pid})")
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs[name] = proc
        return proc

    def start_services(self) -> None:
        for service in SERVICES:
            self.start(service, service_argv(service), self.env())

    def start_worker(self, worker: str) -> subprocess.Popen:
        return self.start(worker, worker_argv(self.settings, worker), self.env(worker))

    def start_all(self) -> None:
        self.start_services()
        for worker in self.settings.workers:
            self.start_worker(worker)

    def check_running(self) -> None:
        """Raise, quoting its log, if a started process has exited."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} (pid {proc.pid}) exited with {proc.returncode}: "
                                   f"{self.log_tail(name)}")

    def log_tail(self, name: str, chars: int = 3000) -> str:
        try:
            return (self.logs / f"{name}.log").read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def wait_ready(self, timeout: float = 180) -> None:
        """Until the API server answers its health check and every started worker answers a Celery ping."""
        deadline = time.monotonic() + timeout
        workers = {w for w in self.settings.workers if w in self.procs}
        while True:
            self.check_running()
            if api_healthy(self.settings) and workers <= celery_workers(self.settings):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the deployment was not ready after {timeout:.0f} s (API {self.settings.api_url}, "
                                   f"workers {sorted(workers)}); logs in {self.logs}")
            time.sleep(1)

    def stop(self, name: str, grace: float = 30) -> None:
        """SIGTERM the process group, then SIGKILL it (and any process of its tree left) after `grace` s."""
        proc = self.procs.get(name)
        if proc is None:
            return
        tree = descendants(proc.pid)
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(proc.pid, signal.SIGKILL)
        for pid in tree:
            _signal_pid(pid, signal.SIGKILL)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def kill(self, name: str) -> list[int]:
        """SIGKILL a process and every process under it at once, as when its machine is lost; their pids."""
        proc = self.procs[name]
        tree = [proc.pid, *descendants(proc.pid)]
        _signal_group(proc.pid, signal.SIGKILL)
        for pid in tree:  # the task runner has a process group of its own
            _signal_pid(pid, signal.SIGKILL)
        proc.wait(timeout=10)
        return tree

    def stop_all(self) -> None:
        """Workers first (they finish nothing half-way once the scheduler is gone), then the services."""
        for name in [*reversed([n for n in self.procs if n not in SERVICES]), *reversed(SERVICES)]:
            self.stop(name)


def descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # each process was started as the leader of its own group
    except ProcessLookupError:
        pass


def _signal_pid(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def api_healthy(settings: Settings) -> bool:
    """The API server answers `/api/v2/monitor/health` with a healthy metadata database and scheduler."""
    try:
        with urllib.request.urlopen(f"{settings.api_url}/api/v2/monitor/health", timeout=3) as resp:
            health = json.load(resp)
    except (OSError, ValueError):
        return False
    return all((health.get(k) or {}).get("status") == "healthy" for k in ("metadatabase", "scheduler"))


def celery_workers(settings: Settings) -> set[str]:
    """The names (before `@`) of the Celery workers that answer a ping on the deployment's broker."""
    from celery import Celery

    app = Celery(broker=settings.broker_url)
    try:
        replies = app.control.ping(timeout=1.0) or []
    except Exception:  # noqa: BLE001 - a broker not yet reachable: nobody answers
        return set()
    finally:
        app.close()
    return {node.split("@", 1)[0] for reply in replies for node in reply}


# --------------------------------------------------------------------------- command line


def _settings(args: argparse.Namespace) -> Settings:
    workers = tuple(args.worker or ["worker-a", "worker-b"])
    return Settings(airflow_home=Path(args.home).resolve(), database_url=args.database_url,
                    broker_url=args.broker_url, api_host=args.api_host, api_port=args.api_port,
                    workers=workers, worker_concurrency=args.concurrency, pool_slots=args.pool_slots,
                    schedule=not args.no_schedule,
                    # workers on one machine: one log server port each (8793, 8794, ...)
                    log_server_ports={w: 8793 + i for i, w in enumerate(workers)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stratify.airflow.deployment",
                                     description="stratify's Airflow CeleryExecutor deployment (docs/deployment.md)")
    parser.add_argument("command", choices=["env", "up", "migrate"],
                        help="env: print the environment file; migrate: db migrate and the pool; "
                             "up: migrate, start everything, stop it all on Ctrl-C or SIGTERM")
    parser.add_argument("--home", required=True, help="the deployment's AIRFLOW_HOME")
    parser.add_argument("--database-url", required=True, help="postgresql+psycopg2://USER@HOST:PORT/DB")
    parser.add_argument("--broker-url", required=True, help="redis://HOST:PORT/N or amqp://USER:PASS@HOST/VHOST")
    parser.add_argument("--api-host", default="127.0.0.1")
    parser.add_argument("--api-port", type=int, default=8080)
    parser.add_argument("--worker", action="append", help="a Celery worker's name (repeat); default worker-a, worker-b")
    parser.add_argument("--concurrency", type=int, default=1, help="tasks at once per worker")
    parser.add_argument("--pool-slots", type=int, default=2, help="slots of the stratify_warehouse pool")
    parser.add_argument("--no-schedule", action="store_true", help="triggered runs only (no 02:00 run)")
    args = parser.parse_args(argv)
    settings = _settings(args)
    if args.command == "env":
        for key, value in component_env(settings).items():
            print(f"{key}={value}")
        return 0
    launcher = Launcher(settings)
    launcher.prepare()
    if args.command == "migrate":
        return 0
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    try:
        launcher.start_all()
        launcher.wait_ready()
        print(f"stratify Airflow is up: {settings.api_url} (logs: {launcher.logs})", flush=True)
        while not stopping:
            launcher.check_running()
            time.sleep(2)
    except KeyboardInterrupt:
        pass
    finally:
        launcher.stop_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
