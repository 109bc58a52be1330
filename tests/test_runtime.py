"""Process-wide runtime settings that `import stratify` makes for every entry point (CLI, Airflow tasks, tests)."""

from __future__ import annotations

import os
import subprocess
import sys


def omp_wait_policy_after_import(env: dict[str, str]) -> str:
    code = "import os, stratify; print(os.environ.get('OMP_WAIT_POLICY'))"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_openmp_threads_wait_passively_unless_the_operator_says_otherwise():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert omp_wait_policy_after_import(env) == "PASSIVE"
    assert omp_wait_policy_after_import({**env, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
