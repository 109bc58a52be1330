"""The second synthetic world (`stratify synth --world stepwise`): contract-valid deliveries and a consistent answer key."""

import hashlib
import shutil
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from helpers import write_place
from stratify.contract import load_contract
from stratify.run.pipeline import run_pipeline
from stratify.worlds.generate import synthesize_stepwise

AS_OF = date(2026, 11, 20)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stepwise")
    cfg = write_place(folder)
    summary = synthesize_stepwise(cfg, people=4000, as_of=AS_OF, seed=3, future_days=183)
    shutil.copytree(cfg.landing, folder / "sent")  # the night moves deliveries to the archive: keep what was sent
    result = run_pipeline(cfg, AS_OF)
    return cfg, summary, result


def deliveries(cfg, source):
    files = sorted((cfg.landing.parent / "sent" / source).glob(f"{source}_*.parquet"))
    return [(date.fromisoformat(f"{p.stem[-8:-4]}-{p.stem[-4:-2]}-{p.stem[-2:]}"), pq.read_table(p).to_pandas())
            for p in files]


def test_every_delivery_passes_validation_and_the_night_publishes(world):
    cfg, summary, result = world
    assert result["status"] == "published", result
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        decisions = dict(con.execute("SELECT decision, count(*) FROM deliveries GROUP BY ALL").fetchall())
        in_crisis = con.execute("SELECT count(*) FROM crisis WHERE in_crisis").fetchone()[0]
    finally:
        con.close()
    assert decisions == {"accepted": len(summary.files)}
    assert in_crisis > 0
    sources = {f.split("/")[0] for f, _ in summary.files}
    assert sources == set(load_contract().source_names)  # every file a place receives


def test_agencies_report_late_and_in_batches(world):
    cfg, summary, _ = world
    for source in ("health", "social_care", "housing", "police"):
        files = deliveries(cfg, source)
        assert len(files) >= 3, f"{source}: batches are files of their own"
        for on, table in files:
            assert (table["event_date"] <= pd.Timestamp(on).date()).all()
        gaps = {(b[0] - a[0]).days for a, b in zip(files[1:], files[2:])}
        assert gaps == {dict(health=7, social_care=14, housing=28, police=7)[source]}
        assert summary.withheld_by_source[source] > 0  # the last weeks are thin at the as-of date
    assert summary.delivered < summary.events


def test_the_future_is_never_delivered_and_holds_every_delivered_row(world):
    cfg, _, _ = world
    future = cfg.landing.parent / "future"
    for source in ("health", "police"):
        delivered = pd.concat([t for _, t in deliveries(cfg, source)])
        (path,) = (future / source).glob("*.parquet")
        whole = pq.read_table(path).to_pandas().set_index("record_id")
        assert delivered["event_date"].max() <= AS_OF
        assert whole["event_date"].max() > AS_OF + timedelta(days=90)
        same = whole.loc[delivered["record_id"], ["person_id", "event_date", "event_type"]].reset_index(drop=True)
        assert same.equals(delivered[["person_id", "event_date", "event_type"]].reset_index(drop=True))


def test_the_answer_key_is_consistent_with_the_deliveries(world):
    cfg, _, _ = world
    key = pd.read_parquet(cfg.landing.parent / "answer_key" / "answer_key.parquet").set_index("person_id")
    register = pd.concat([t for _, t in deliveries(cfg, "register")])
    assert set(register["person_id"]) <= set(key.index) and key.index.is_unique
    assert key["latent_escalation"].between(0, 1).all()
    # a domain in the deliveries always comes from a path: noise never evidences one
    contract = load_contract()
    evidence = {(r.source, e): r.roles for r in contract.domains for e in r.event_types}
    for source in ("health", "housing", "police", "social_care"):
        ev = pd.concat([t for _, t in deliveries(cfg, source)])
        roles = ev["role"] if "role" in ev else pd.Series(None, index=ev.index)
        is_domain = np.array([(source, t) in evidence and (not evidence[(source, t)] or r in evidence[(source, t)])
                              for t, r in zip(ev["event_type"], roles)])
        assert is_domain.any()
        assert key.loc[ev.loc[is_domain, "person_id"], "on_path"].all()
    # the third domain makes the crisis the rules see, unless it began too recently to be reported
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        crisis = {p for (p,) in con.execute("SELECT person_id FROM crisis WHERE in_crisis").fetchall()}
    finally:
        con.close()
    third = pd.to_datetime(key["third_domain_date"])
    settled = key[key["in_crisis_at_as_of"] & (third <= pd.Timestamp(AS_OF - timedelta(days=60)))]
    assert len(settled) >= 10 and settled.index.isin(list(crisis)).mean() >= 0.9
    # latent escalation ranks those whose third domain is to come within six months far above everyone else
    soon = key["third_domain_within_6_months"] & ~key["in_crisis_at_as_of"]
    assert soon.sum() >= 5
    assert key.loc[soon, "latent_escalation"].mean() > 5 * key.loc[~soon & ~key["in_crisis_at_as_of"],
                                                                   "latent_escalation"].mean()
    # a household member's third domain started others on a path
    assert key["from_household"].sum() > 0


def test_the_world_is_the_same_for_the_same_seed_and_reachable_from_the_cli(tmp_path, capsys):
    from stratify.cli import main

    digests = []
    for run in ("a", "b"):
        folder = tmp_path / run
        folder.mkdir()
        cfg = write_place(folder)
        assert main(["synth", "--config", str(cfg.path), "--world", "stepwise", "--people", "600",
                     "--as-of", AS_OF.isoformat(), "--seed", "5"]) == 0
        digests.append(sorted((p.relative_to(folder).as_posix(), hashlib.sha256(p.read_bytes()).hexdigest())
                              for p in (folder / "landing").rglob("*.parquet")))
        assert not (folder / "future").exists()  # nothing past the as-of date unless asked for
    assert digests[0] == digests[1] and digests[0]
    assert "world stepwise: 600 people" in capsys.readouterr().out
