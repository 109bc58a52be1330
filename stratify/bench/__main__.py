"""`python -m stratify.bench`: the benchmark, and each measured step's own process (`--child`)."""

import sys

from stratify.bench.cli import main

sys.exit(main())
