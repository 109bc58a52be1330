"""Where stratify's own files are: templates, SQL, the contract, DDL, feature SQL, suites.

Every module asks here instead of working out paths from its own `__file__`,
so moving a module never breaks a path and an installed wheel finds the same
files as a checkout.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
SQL_DIR = PACKAGE_DIR / "sql"
CONTRACT_PATH = PACKAGE_DIR / "contract.yaml"
COSTS_DIR = PACKAGE_DIR / "costs"  # the default unit-cost table and the GMCA database it is built from
DDL_DIR = PROJECT_ROOT / "warehouse"
FEATURES_DIR = PROJECT_ROOT / "features"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
