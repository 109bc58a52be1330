"""The environment that runs Airflow self-contained inside the project.

Tests and the benchmark pass `airflow_env(...)` to subprocesses (or set it
before importing airflow) so that every Airflow they start uses the same
settings as `make demo`: a project-local AIRFLOW_HOME with a SQLite metadata
database, this project's `dags/` folder, no example DAGs, and a LocalExecutor
sized for a small machine (its default parallelism of 32 forks 32 workers).
"""

from __future__ import annotations

from pathlib import Path

WAREHOUSE_POOL = "stratify_warehouse"
WAREHOUSE_POOL_DESCRIPTION = "stratify DuckDB warehouse: one writer at a time"


def airflow_env(project_root: Path, airflow_home: Path) -> dict[str, str]:
    """Environment variables for an Airflow that uses `project_root/dags` and lives in `airflow_home`."""
    project_root = Path(project_root).resolve()
    airflow_home = Path(airflow_home).resolve()
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(project_root / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
    }
