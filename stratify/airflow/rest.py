"""A small client of Airflow's REST API (`/api/v2`) for a stratify deployment: trigger a night, follow it.

Used by the Celery deployment test and the many-places benchmark. The token
comes from `/auth/token` with SimpleAuthManager's `admin` user, whose
password the API server writes into the deployment's AIRFLOW_HOME on first
start (`simple_auth_manager_passwords.json.generated`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import quote

import httpx

TERMINAL = ("success", "failed")


class AirflowApi:
    def __init__(self, base_url: str, airflow_home: Path, user: str = "admin", timeout: float = 60):
        passwords = Path(airflow_home) / "simple_auth_manager_passwords.json.generated"
        password = json.loads(passwords.read_text(encoding="utf-8"))[user]
        token = httpx.post(f"{base_url}/auth/token", json={"username": user, "password": password}, timeout=timeout)
        token.raise_for_status()
        self.client = httpx.Client(base_url=f"{base_url}/api/v2", timeout=timeout,
                                   headers={"Authorization": f"Bearer {token.json()['access_token']}"})

    def close(self) -> None:
        self.client.close()

    def get(self, path: str, **params):
        """The JSON answer, None for 404 (not there yet)."""
        resp = self.client.get(path, params=params, headers={"Accept": "application/json"})
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        return resp.json()

    def send(self, method: str, path: str, body: dict):
        resp = self.client.request(method, path, json=body)
        if resp.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:500]}")
        return resp.json()

    @staticmethod
    def run_path(dag_id: str, run_id: str) -> str:
        return f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        """Until the DAG processor has parsed `dag_id` and there are no import errors."""
        deadline = time.monotonic() + timeout
        while not (self.get(f"/dags/{dag_id}") and self.get("/importErrors")["total_entries"] == 0):
            if time.monotonic() > deadline:
                raise TimeoutError(f"DAG {dag_id} not parsed after {timeout:.0f} s: {self.get('/importErrors')}")
            time.sleep(1)

    def trigger(self, dag_id: str, conf: dict) -> str:
        """Unpause `dag_id` and trigger a run with `conf` (no logical date, as a manual run); its run id."""
        self.send("PATCH", f"/dags/{dag_id}", {"is_paused": False})
        return self.send("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.get(self.run_path(dag_id, run_id))

    def task_instances(self, dag_id: str, run_id: str) -> dict[tuple[str, int], dict]:
        """The run's task instances (their latest try) by (task id, map index)."""
        answer = self.get(f"{self.run_path(dag_id, run_id)}/taskInstances", limit=1000)
        return {(t["task_id"], t["map_index"]): t for t in answer["task_instances"]}

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> list[dict]:
        """Every try of one task instance, oldest first (state, hostname, start and end of each)."""
        where = f"{task_id}/{map_index}" if map_index >= 0 else task_id
        answer = self.get(f"{self.run_path(dag_id, run_id)}/taskInstances/{where}/tries")
        return sorted(answer["task_instances"], key=lambda t: t["try_number"])

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        """One try's task log as text (what the UI's log view shows)."""
        answer = self.get(f"{self.run_path(dag_id, run_id)}/taskInstances/{task_id}/logs/{try_number}",
                          map_index=map_index)
        return json.dumps(answer)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> dict:
        """Until the run is `success` or `failed`; the run."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                run = self.run(dag_id, run_id)
            except httpx.TimeoutException:  # a busy machine: ask again
                run = {}
            if run.get("state") in TERMINAL:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {run.get('state')} after {timeout:.0f} s")
            time.sleep(2)
