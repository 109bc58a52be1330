"""The answer key: each person's latent truth, written outside the landing folder, and read back."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from stratify.synth.behaviour import BRIAN_YEARS, EPOCH, YEAR
from stratify.synth.cohort import NEVER, Cohort, latent_risk, risk_on
from stratify.synth.people import People
from stratify.synth.tables import date_array

if TYPE_CHECKING:  # pandas only for reading an answer key back
    import pandas as pd


def answer_key_risk(key: pd.DataFrame, when: date) -> np.ndarray:
    """Each answer-key person's latent risk on `when`, from their trajectory (same formula as `latent_risk`).

    The key's `latent_risk` column is the risk on the place's as-of date. A
    model tested on an earlier snapshot can know at best the risk on that
    snapshot's date: ranking it by the as-of risk would use what happened
    after the snapshot (who went on to reach crisis), so it is no ceiling.
    Keys written before the trajectory columns existed raise ValueError.
    """
    missing = {"base_risk", "escalation_date", "peak_date", "recovery_date", "level"} - set(key.columns)
    if missing:
        raise ValueError(f"answer key has no trajectory column(s) {sorted(missing)}: regenerate it with `stratify synth`")
    import pandas as pd

    def days(column: str) -> np.ndarray:
        d = pd.to_datetime(key[column])
        return ((d - pd.Timestamp(EPOCH)).dt.days).fillna(-1).to_numpy(dtype=np.int64)

    esc, peak, rec = days("escalation_date"), days("peak_date"), days("recovery_date")
    base = key["base_risk"].to_numpy(dtype=float)
    latent = risk_on((when - EPOCH).days, key["level"].to_numpy(dtype=float), esc, peak, np.where(rec < 0, NEVER, rec))
    return np.where(peak >= 0, np.maximum(base, latent), base)


def answer_key_table(p: People, c: Cohort, pids: pa.Array, hh_ids: pa.Array, a: int) -> pa.Table:
    """Each person's latent truth: archetype, risk at as_of, escalation/crisis/recovery dates."""
    n = p.n
    arche = np.where(p.is_child, "child", "stable").astype(object)
    base = np.clip(0.004 * p.vuln, 0, 0.05)
    risk = base.copy()
    esc = np.full(n, -1, dtype=np.int64)
    peak = np.full(n, -1, dtype=np.int64)
    level = np.zeros(n)
    crisis = np.full(n, -1, dtype=np.int64)
    rec = np.full(n, -1, dtype=np.int64)
    arche[c.idx] = c.archetype
    risk[c.idx] = np.maximum(risk[c.idx], latent_risk(c, a))
    esc[c.idx] = c.escalation
    peak[c.idx] = c.peak
    level[c.idx] = c.level
    reaches = c.level >= 1
    crisis[c.idx[reaches]] = c.peak[reaches]
    rec[c.idx] = np.where(c.recovery < NEVER, c.recovery, -1)
    arche[p.brian] = "brian"
    risk[p.brian] = 1.0
    crisis[p.brian] = a - int(BRIAN_YEARS * YEAR) + 1
    in_crisis = (crisis >= 0) & (crisis <= a) & ((rec < 0) | (rec > a)) & (p.death > a)
    wobbling = (crisis > a) & (crisis <= a + 182) & (p.death > a)
    return pa.table({
        "person_id": pids,
        "household_id": hh_ids.take(pa.array(p.household)),
        "archetype": pa.array(arche.tolist(), type=pa.string()),
        "latent_risk": pa.array(np.round(risk, 4)),
        "escalation_date": date_array(esc, esc >= 0),
        "crisis_date": date_array(crisis, crisis >= 0),
        "recovery_date": date_array(rec, rec >= 0),
        # the trajectory, so that the latent risk can be read at any date (`answer_key_risk`)
        "base_risk": pa.array(np.round(base, 4)),
        "peak_date": date_array(peak, peak >= 0),
        "level": pa.array(np.round(level, 4)),
        "in_crisis_at_as_of": pa.array(in_crisis),
        "enters_crisis_within_6_months": pa.array(wobbling),
        "date_of_death": date_array(np.minimum(p.death, a), p.death <= a),
    })
