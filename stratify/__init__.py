"""stratify: risk stratification for integrated neighbourhood teams.

One module per pipeline stage (ingest, validate, load, link, features, rules,
model, publish, audit); `pipeline` runs them in order for the CLI and tests,
and the Airflow DAGs in `dags/` call the same functions one task each.
"""

import os

__version__ = "0.1.0"

# OpenMP threads (scikit-learn's gradient boosting) that wait for work sleep
# instead of spinning. Spinning pays only on an otherwise idle machine: beside
# Airflow's scheduler, another place's task or a second test worker on two
# cores, the spinning threads took the cores from the ones with work, and
# fitting the wobbling model took 6 to 8 times longer (same results). Set here,
# before anything loads libgomp (which reads it once), so the CLI, Airflow's
# task processes and the tests all get it; child processes inherit it. An
# operator's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
