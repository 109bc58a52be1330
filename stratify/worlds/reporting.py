"""When each agency reports an event: a lag of its own, then the next batch it sends.

An event reaches the place in the first batch on or after the day it is
reported (event day + a log-normal lag; police's lag has a heavy tail). A
source's batches fall every `period` days counting back from the as-of
date, so the delivery of the as-of date holds only what was reported by then
and the last weeks are thin.
"""

from __future__ import annotations

import numpy as np

from stratify.worlds.mechanics import RECENT_FILES_DAYS, REPORTING


def batch_day(rng: np.random.Generator, source: str, day: np.ndarray, as_of: int) -> np.ndarray:
    """The day of the batch each event of `source` arrives in (may be after `as_of`: not delivered yet)."""
    median, sigma, period = REPORTING[source]
    reported = day + np.ceil(rng.lognormal(np.log(median), sigma, len(day))).astype(np.int64)
    k = np.ceil((reported - as_of) / period).astype(np.int64)
    return as_of + k * period


def file_day(source: str, batch: np.ndarray, as_of: int) -> np.ndarray:
    """The delivery each delivered batch is a file of: its own if recent, else one history file before them."""
    period = REPORTING[source][2]
    history = as_of - period * (RECENT_FILES_DAYS // period + 1)
    return np.where(batch > history, batch, history)
