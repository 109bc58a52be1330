"""Airflow's side: the tasks the DAGs call, their failure callbacks, the process environment, the CeleryExecutor deployment and its REST client."""
