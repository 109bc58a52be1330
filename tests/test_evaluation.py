"""The answer-key ceiling: ranked by the latent risk on the held-out date, never by what came later."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from stratify.config import parse_config
from stratify.model.evaluation import HeldOut, answer_key_precision

HELD_OUT_ON = date(2026, 5, 20)


def test_answer_key_ceiling_ranks_by_the_risk_on_the_held_out_date(tmp_path: Path):
    raw = {"place": "t", "landing": "landing", "warehouse": "w.duckdb", "out": "out",
           "neighbourhoods": "n.csv", "capacity": {"default": 1}}
    cfg = parse_config(raw, tmp_path / "place.yaml")
    # p1 was already escalating on the held-out date and enters crisis; p2 only began
    # escalating later (so its as-of latent risk is high) and does not; one team of capacity 1.
    key = pd.DataFrame({
        "person_id": ["p1", "p2", "p3"],
        "latent_risk": [0.3, 0.9, 0.01],
        "base_risk": [0.01, 0.01, 0.01],
        "escalation_date": pd.to_datetime(["2026-01-01", "2026-07-01", None]),
        "peak_date": pd.to_datetime(["2026-08-01", "2027-01-01", None]),
        "recovery_date": pd.to_datetime([None, None, None]),
        "level": [1.0, 1.0, 0.0],
    })
    held = HeldOut(y=np.array([1, 0, 0], dtype=np.int8), teams=np.array(["T", "T", "T"]),
                   groups=pd.DataFrame(index=range(3)), person_ids=np.array(["p1", "p2", "p3"]))
    result = answer_key_precision(held, key, cfg, on=HELD_OUT_ON)
    assert result["precision_at_capacity"] == 1.0
    assert result["precision_at_capacity_seeing_the_future"] == 0.0
