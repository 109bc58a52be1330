#!/usr/bin/env bash
# Create the peer's own virtual environment: dssg/triage 6.0 (a benchmark peer, never a product dependency).
#
#   bench/triage/make_venv.sh [VENV]     # default /work/triage-venv
#
# torch first (a local CPU wheel the registry takes; aequitas, which triage pulls, needs torch), then
# triage 6.0.0 with pyarrow 20.0.0 beside it (triage's own pin resolves to a pyarrow that does not build).
# Runs under nice: the machine's cores are shared.
set -euo pipefail
VENV="${1:-/work/triage-venv}"
python3 -m venv "$VENV"
nice -n 10 "$VENV/bin/pip" install --upgrade pip
nice -n 10 "$VENV/bin/pip" install 'torch==2.13.0'
nice -n 10 "$VENV/bin/pip" install 'triage==6.0.0' 'pyarrow==20.0.0'
"$VENV/bin/python" -c "import triage, pyarrow; print('triage', triage.__version__ if hasattr(triage, '__version__') else '6.0.0', 'pyarrow', pyarrow.__version__)"
