"""Seconds the night spends on costs, handoffs and priorities outside the costs stage, for the benchmark.

The costs stage is a stage of its own, timed whole. Its work also reaches
into two later stages: rank adds the list columns (`list_columns`), and
publish writes the baseline page and each listed person's cost sentence.
Those parts are timed here (`timed("baseline")` ...) in a per-process
total that `stratify bench` reads after each stage (`spent()`), so the
share of the night that costs, handoffs and priorities take is measured,
not guessed. Nothing else reads it; outside the benchmark it is a few
`perf_counter` calls.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

_SPENT: dict[str, float] = {}


@contextmanager
def timed(part: str) -> Iterator[None]:
    """Add the seconds of the `with` block to this process's total for `part`."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        _SPENT[part] = _SPENT.get(part, 0.0) + time.perf_counter() - t0


def spent() -> dict[str, float]:
    """Seconds per part so far in this process (a copy)."""
    return dict(_SPENT)
