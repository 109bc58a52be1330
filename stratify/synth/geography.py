"""The place's LSOAs and neighbourhood teams, and the neighbourhoods file that maps one to the other."""

from __future__ import annotations

import csv
from pathlib import Path

from stratify.synth.behaviour import MIN_TEAMS, PEOPLE_PER_TEAM, RESIDENTS_PER_LSOA


def geography(n: int) -> tuple[int, int, list[str], list[str]]:
    """LSOAs of about 1,500 residents and teams of about 40,000 (at least three)."""
    teams = max(MIN_TEAMS, round(n / PEOPLE_PER_TEAM))
    lsoas = max(round(n / RESIDENTS_PER_LSOA), 2 * teams)
    lsoa_codes = [f"E01{12_000 + i:06d}" for i in range(lsoas)]
    team_codes = [f"NT{i + 1:02d}" for i in range(teams)]
    return lsoas, teams, lsoa_codes, [team_codes[i * teams // lsoas] for i in range(lsoas)]


def write_neighbourhoods(path: Path, lsoa_codes: list[str], lsoa_team: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["lsoa21", "team"])
        w.writerows(zip(lsoa_codes, lsoa_team))
