"""stratify: risk stratification for integrated neighbourhood teams.

One module per pipeline stage (ingest, validate, load, link, features, rules,
model, publish, audit); `pipeline` runs them in order for the CLI and tests,
and the Airflow DAGs in `dags/` call the same functions one task each.
"""

__version__ = "0.1.0"
