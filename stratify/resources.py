"""Where stratify's own files are: templates, SQL, the contract, DDL, feature SQL, suites.

Every module asks here instead of working out paths from its own `__file__`,
so moving a module never breaks a path and an installed wheel finds the same
files as a checkout.

The package is found through `importlib.resources`. Files inside the package
(`templates/`, `sql/` with `sql/unexpected_rows/`, `contract.yaml`) are in the
same place in a checkout and in a wheel. The design's top-level folders
`features/`, `expectations/` and `warehouse/` are the source of truth in the
repository; a wheel carries copies of them inside the package, at
`stratify/_bundled/<folder>/` (pyproject.toml's force-include), so the
bundled copy is used when it is there and the checkout's folder otherwise.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _package_dir() -> Path:
    """The folder of the installed `stratify` package, as a real path on disk.

    DuckDB and Jinja read files by path, so the package must be installed as
    files (a wheel unpacked by pip, or a checkout), not imported from a zip.
    """
    root = files("stratify")
    if not isinstance(root, Path):
        raise RuntimeError(f"stratify is imported from {root!r}, not from files on disk: "
                           "install it with pip (not as a zip) so its SQL and templates can be read")
    return root.resolve()


PACKAGE_DIR = _package_dir()
# The folder holding the package: the checkout, or site-packages for a wheel.
# Error messages name SQL files relative to it.
PROJECT_ROOT = PACKAGE_DIR.parent
BUNDLED_DIR = PACKAGE_DIR / "_bundled"
# The repository's root when running from a checkout (it has dags/, examples/,
# bench/); None for an installed wheel, which has none of them.
CHECKOUT_ROOT: Path | None = PROJECT_ROOT if (PROJECT_ROOT / "pyproject.toml").is_file() else None

TEMPLATES_DIR = PACKAGE_DIR / "templates"
SQL_DIR = PACKAGE_DIR / "sql"
CONTRACT_PATH = PACKAGE_DIR / "contract.yaml"


def data_dir(name: str) -> Path:
    """One of the top-level data folders: the wheel's bundled copy if present, else the checkout's.

    When neither exists the bundled path is returned, so the error of whoever
    reads it names where an installed stratify expected the file.
    """
    bundled = BUNDLED_DIR / name
    if bundled.is_dir():
        return bundled
    checkout = PROJECT_ROOT / name
    return checkout if checkout.is_dir() else bundled


DDL_DIR = data_dir("warehouse")
FEATURES_DIR = data_dir("features")
EXPECTATIONS_DIR = data_dir("expectations")
COSTS_DIR = PACKAGE_DIR / "costs"  # the default unit-cost table and the GMCA database it is built from
