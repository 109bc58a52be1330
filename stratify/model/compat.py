"""The package versions a saved model needs, and whether this installation has them.

A model is a scikit-learn pickle, and the night around it reaches into the
private API of a few libraries (scikit-learn's fitted trees, openpyxl's cell
styles, the Great Expectations and duckdb-engine patches, DuckDB itself). When
a model is trained, `running_versions` records the versions of those packages
beside it; before a night starts, `check_versions` compares them with the
installed ones and decides, once, whether the night may run:

- the same versions: go on;
- a patch-level difference (1.9.1 -> 1.9.2) of a package whose hooks stratify
  tests (`PATCH_ALLOWED`): go on, and say so in the log;
- a patch-level difference of scikit-learn, whose pickles are only promised to
  load in the version that wrote them, or any minor or major difference:
  refuse before the first stage, with the action (reinstall the pinned
  versions, or retrain with the installed ones).

A night therefore never starts with a model it would fail to read half-way.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

if TYPE_CHECKING:
    from stratify.config import PlaceConfig

log = logging.getLogger(__name__)

# The packages whose behaviour a saved model or a night's private hooks depend on
# (pinned exactly in pyproject.toml), by their distribution names.
RECORDED_PACKAGES: tuple[str, ...] = (
    "scikit-learn", "numpy", "scipy", "joblib", "sqlalchemy", "openpyxl", "great-expectations",
    "duckdb-engine", "duckdb",
)
# A patch-level upgrade of these is allowed: their hooks have tests that fail
# when the library changes, and a patch release keeps the API. Not scikit-learn
# (the model itself is its pickle) nor numpy and scipy (the arrays inside it).
PATCH_ALLOWED: frozenset[str] = frozenset({"joblib", "sqlalchemy", "openpyxl", "great-expectations",
                                           "duckdb-engine", "duckdb"})
VERSIONS_SUFFIX = ".versions.json"


class VersionMismatch(RuntimeError):
    """The installed packages differ from those a saved model needs; `action` says what to do."""

    def __init__(self, message: str, action: str, differences: list[Difference]):
        super().__init__(f"{message}; {action}")
        self.action = action
        self.differences = differences


@dataclass(frozen=True)
class Difference:
    package: str
    saved: str | None
    running: str | None
    level: str  # "patch", "minor", "major", "missing" (installed or recorded on one side only), "unparsable"
    allowed: bool

    def describe(self) -> str:
        return f"{self.package} {self.saved or 'not recorded'} -> {self.running or 'not installed'} ({self.level})"


def running_versions(packages: tuple[str, ...] = RECORDED_PACKAGES) -> dict[str, str]:
    """The installed version of each package, by distribution name; a package not installed is left out."""
    found = {}
    for name in packages:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _level(saved: str, running: str) -> str:
    try:
        a, b = Version(saved), Version(running)
    except InvalidVersion:
        return "unparsable"
    if a.major != b.major:
        return "major"
    if a.minor != b.minor:
        return "minor"
    return "patch"


def compare(saved: dict[str, str], running: dict[str, str] | None = None) -> list[Difference]:
    """Every package whose saved and running versions differ, with whether the difference is allowed."""
    running = running_versions() if running is None else running
    out = []
    for name in sorted(set(saved) | (set(running) & set(RECORDED_PACKAGES))):
        a, b = saved.get(name), running.get(name)
        if a == b:
            continue
        level = _level(a, b) if a is not None and b is not None else "missing"
        allowed = level == "patch" and name in PATCH_ALLOWED
        if a is None and b is not None:  # recorded by an older stratify that did not know this package
            allowed = name not in ("scikit-learn", "numpy", "scipy")
        out.append(Difference(name, a, b, level, allowed))
    return out


def check_versions(saved: dict[str, str], running: dict[str, str] | None = None, *, what: str = "the model") -> list[Difference]:
    """Allowed differences (logged), or `VersionMismatch` naming every refused one and the action.

    `saved` is the set a model recorded (`running_versions` at training).
    """
    differences = compare(saved, running)
    refused = [d for d in differences if not d.allowed]
    if refused:
        pins = " ".join(f"{d.package}=={d.saved}" for d in refused if d.saved)
        action = (f"reinstall the versions {what} was trained with (pip install -c constraints.txt ., or "
                  f"pip install {pins}), or train a new model with the installed ones (stratify train)")
        raise VersionMismatch(f"{what} needs other package versions than installed: "
                              + ", ".join(d.describe() for d in refused), action, refused)
    for d in differences:
        log.info("%s: allowed package difference %s", what, d.describe())
    return differences


def versions_path(model_path: Path) -> Path:
    """Where the versions of a saved model are recorded: beside it, `<model>.versions.json`."""
    return model_path.with_name(model_path.stem + VERSIONS_SUFFIX)


def record_versions(model_path: Path, versions: dict[str, str] | None = None) -> Path:
    """Write the versions a model was saved with beside it; returns the file written."""
    path = versions_path(model_path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(running_versions() if versions is None else versions, indent=2, sort_keys=True) + "\n",
                   encoding="utf-8")
    tmp.replace(path)
    return path


def recorded_versions(model_path: Path) -> dict[str, str] | None:
    """The versions recorded beside a saved model; None if it has none (saved before they were recorded)."""
    path = versions_path(model_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise VersionMismatch(f"the versions file {path} cannot be read ({exc})",
                              "restore it from the model's backup or train a new model (stratify train)", []) from exc
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise VersionMismatch(f"the versions file {path} is not a mapping of package to version",
                              "restore it from the model's backup or train a new model (stratify train)", [])
    return data


def check_promoted_model(cfg: PlaceConfig) -> list[Difference]:
    """Before a night: the promoted model's recorded versions against the installed ones.

    Nothing to check (returns []) when the warehouse does not exist yet, no
    model was promoted, or the model was saved before versions were recorded
    (its scikit-learn version is still checked when it is read).
    """
    from stratify.warehouse.database import connect, fetch_one

    if not Path(cfg.warehouse).exists():
        return []
    with connect(cfg) as con:
        row = fetch_one(con, "SELECT model_version, path FROM models WHERE promoted")
    if row is None:
        return []
    model_version, path = row
    saved = recorded_versions(Path(path))
    if saved is None:
        return []
    return check_versions(saved, what=f"the promoted model {model_version}")
