"""Small-number suppression, applied where a count is rendered, never to a finished sentence.

`suppress` is the rule for counts in aggregates (1 to min_count-1 as
`<min_count`, others rounded to the nearest `round_to`). `Count` is a count
that knows whether it may be shown exactly: a count of a delivery's rows may
(its rows, the rows that broke a rule: facts about a file, which the
supplier's delivery note and the Data Docs give exactly); a count of people
(pseudonyms, NHS numbers found, opt-outs, deaths, people listed or exported)
may not. `SuppressedCounts` writes the counts of a validation finding
(`stratify.validate.findings.CountWords`) for the pages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stratify.config import SuppressionConfig
from stratify.validate.findings import EXACT


def suppress(n: int, cfg: SuppressionConfig) -> str:
    """A count as it may be shown in an aggregate: `0`, `<min_count`, or rounded to the nearest `round_to`.

    Every count from 1 to min_count-1 gives the same text, so no small count
    can be read back. A rounded count is never shown below min_count (it
    would name a value that only small counts can have, e.g. 12 -> `10` with
    min_count 12), so the lowest bucket starts at the first multiple of
    round_to at or above min_count.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"suppress: a count must be a whole number, got {type(n).__name__}")
    if n < 0:
        raise ValueError(f"suppress: a count cannot be negative ({n})")
    if cfg.min_count < 1 or cfg.round_to < 1:
        raise ValueError("suppression.min_count and suppression.round_to must be at least 1")
    if n == 0:
        return "0"
    if n < cfg.min_count:
        return f"<{cfg.min_count}"
    step = cfg.round_to
    rounded = step * math.floor(n / step + 0.5)  # nearest multiple, halves up
    floor_bucket = step * math.ceil(cfg.min_count / step)
    return str(max(rounded, floor_bucket))


def _grouped(text: str) -> str:
    """Digits grouped in thousands (`61319` -> `61,319`); `<10` and `0` unchanged."""
    return f"{int(text):,}" if text.isdigit() else text


@dataclass(frozen=True)
class Count:
    """A count to show: exactly (a count of a delivery's rows) or suppressed (a count of people)."""

    n: int | None
    exact: bool = False

    def shown(self, cfg: SuppressionConfig) -> str:
        if self.n is None:
            return "not known"
        return f"{int(self.n):,}" if self.exact else _grouped(suppress(int(self.n), cfg))


class SuppressedCounts:
    """How a page writes a validation finding's counts: people suppressed, no percentage beside them."""

    def __init__(self, cfg: SuppressionConfig):
        self.cfg = cfg

    def count(self, n: int | None, exact: bool = False) -> str:
        return "some" if n is None else Count(n, exact).shown(self.cfg)

    def share(self, n: int, total: int) -> str:
        return ""  # beside `n of total` a percentage would give a suppressed n back

    def rows(self, first_rows: tuple[int, ...], n: int | None, exact: bool = True) -> str:
        if exact:
            return EXACT.rows(first_rows, n)
        return f"first at data row {first_rows[0]}" if first_rows else ""  # a short list's length is a count
