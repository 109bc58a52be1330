"""The neighbourhoods table (`lsoa21,team`): each LSOA's neighbourhood team, every row checked."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from stratify.contract import load_contract
from stratify.errors import ConfigError

TEAM_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_PROBLEMS = 20  # a wholly wrong file is named by its first rows, not by every one


def neighbourhood_problems(path: Path) -> tuple[dict[str, str], list[str]]:
    """(lsoa21 -> team, one sentence per bad row): malformed codes and LSOAs mapped to two teams."""
    if not path.exists():
        return {}, [f"neighbourhoods: {path} does not exist; it must be a CSV with columns lsoa21,team"]
    lsoa_re = re.compile(load_contract().patterns["lsoa21"])
    mapping: dict[str, str] = {}
    first: dict[str, int] = {}
    found: list[str] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or {"lsoa21", "team"} - set(reader.fieldnames):
                return {}, [f"neighbourhoods: {path} must have a header with columns lsoa21,team"]
            for i, row in enumerate(reader, start=2):
                lsoa, team = (row["lsoa21"] or "").strip(), (row["team"] or "").strip()
                if not lsoa_re.fullmatch(lsoa):
                    found.append(f"neighbourhoods: {path} line {i}: lsoa21 is not an LSOA 2021 code (E01 + 6 digits)")
                elif not TEAM_RE.fullmatch(team):
                    found.append(f"neighbourhoods: {path} line {i}: team code must be 1-64 of [A-Za-z0-9_-]")
                elif mapping.get(lsoa, team) != team:
                    found.append(f"neighbourhoods: {path} line {i}: LSOA {lsoa} is mapped to two teams "
                                 f"(also on line {first[lsoa]})")
                else:
                    mapping[lsoa] = team
                    first.setdefault(lsoa, i)
                if len(found) >= MAX_PROBLEMS:
                    found.append(f"neighbourhoods: {path}: stopped after {MAX_PROBLEMS} problems")
                    break
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return {}, [f"neighbourhoods: {path} cannot be read as a UTF-8 CSV ({type(exc).__name__})"]
    if not mapping and not found:
        found.append(f"neighbourhoods: {path} maps no LSOA to a team")
    return mapping, found


def read_neighbourhoods(path: Path) -> dict[str, str]:
    """Read `lsoa21,team` rows, refusing malformed codes with the row number."""
    mapping, found = neighbourhood_problems(Path(path))
    if found:
        raise ConfigError(problems=found, where=path)
    return mapping
