"""How a person is named and ranked on a team's pages and workbook: a short reference, and crisis rules met.

A pseudonym is 64 characters: nobody can say one aloud in a huddle. The
page and workbook show a short reference (`short_refs`: its first few
characters, as many as it takes to tell apart everyone on the team's page);
the full pseudonym stays in the CSV and in the workbook's person_id column.

People in crisis all score 1; what orders them is how many crisis rules
they meet, which the scoring stage writes into their severity
(`stratify.score.score_frame`): `crisis_rules_met` reads it back.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from stratify.lists.team import TeamLists

SHORT_REF_MIN = 4  # characters of a pseudonym said aloud, lengthened where two people would clash
RULES_MET_UNIT = 1_000_000  # the crisis severity counts rules met in millions (model.train.score_frame)


def short_refs(person_ids: Iterable[str], shortest: int = SHORT_REF_MIN) -> dict[str, str]:
    """Each pseudonym's first `shortest` characters, lengthened until no two people given share a reference.

    A person's reference is one character longer than the longest prefix
    they share with anyone else given (neighbours in sorted order), so the
    references of one team's page name one person each and can be said aloud
    in the huddle; the full pseudonym stays in the CSV.
    """
    ids = sorted(set(person_ids))
    out = {}
    for i, p in enumerate(ids):
        shared = max([len(os.path.commonprefix([p, ids[j]])) for j in (i - 1, i + 1) if 0 <= j < len(ids)], default=0)
        out[p] = p[:max(shortest, shared + 1)]
    return out


def crisis_rules_met(severity: float) -> int:
    """How many crisis rules a person in crisis meets, read from their severity (see `model.train.score_frame`)."""
    return int(float(severity) // RULES_MET_UNIT)


def team_refs(t: TeamLists) -> dict[str, str]:
    """The short reference of everyone on the team's page (listed, sections, dropped off)."""
    return short_refs(pid for f in (t.listed, t.already_working, t.snoozed, t.dropped) for pid in f["person_id"])
