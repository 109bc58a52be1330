"""Selection rates checked from the outside: a published night recomputed from its own lists and the register.

The pipeline runs one night on a small synthetic place. Then, without any of
stratify's measure code or SQL, this test reads what was published (every
team's list CSV, both tiers) and the person register exactly as it was
delivered (the archived files), works out who was registered, living and not
opted out on the as-of date (latest row wins, `deleted` retracts, the LSOA's
team from the neighbourhoods file), bands their age, and recomputes every
entry of `manifest.json` `fairness.selection_rates` in plain pandas: rate,
95% Wilson interval (statsmodels), ratio to the largest group, the
four-fifths flag, and small-number suppression.

Suppression, as the issue asks ("small numbers suppressed"): a rate whose
group size or listed count is between 1 and `min_count - 1` is withheld
(its `rate`, interval and ratio are null and it is never flagged); the
largest group, the reference for ratios, is the one with the most people
among those whose rates are shown (Aequitas's majority reference; with the
[0.8, 1.25] band a ratio may lie either side of 1).
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from helpers import no_settle_pause

pytestmark = pytest.mark.slow

AS_OF = date(2026, 11, 20)
MIN_COUNT = 10
KINDS = ("sex", "age_band", "ethnic_group")
FILE_RE = re.compile(r"^register_(\d{8})(?:_(\d+))?\.(parquet|csv)$")


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    from stratify.config import load_config
    from stratify.run.pipeline import run_pipeline
    from stratify.synth.generate import synthesize

    folder = tmp_path_factory.mktemp("selection_place")
    (folder / "place.yaml").write_text(
        "place: fairness\nlanding: landing\nwarehouse: w.duckdb\nout: out\nneighbourhoods: neighbourhoods.csv\n"
        f"capacity:\n  default: 60\nsuppression:\n  min_count: {MIN_COUNT}\n  round_to: 5\n"
        "model:\n  min_wobbling_score: 0.005\n", encoding="utf-8")  # full lists: both tiers, many groups
    cfg = load_config(folder / "place.yaml")
    synthesize(cfg, people=3000, as_of=AS_OF, seed=11)
    with no_settle_pause():
        result = run_pipeline(cfg, AS_OF)
    assert result["status"] == "published", result
    run = cfg.out / "latest"
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    return {"cfg": cfg, "run": run, "manifest": manifest, "folder": folder}


# ------------------------------------------------------------------ the independent side: files and pandas only


def delivered_register(archive: Path) -> pd.DataFrame:
    """Every register file as delivered, in delivery order (date in the name, then its sequence number)."""
    files = []
    for path in (archive / "register").iterdir():
        m = FILE_RE.match(path.name)
        if m:
            files.append((m.group(1), int(m.group(2) or 1), path))
    assert files, f"no register deliveries in {archive / 'register'}"
    frames = []
    for order, (day, _, path) in enumerate(sorted(files)):
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str, keep_default_na=False)
        frames.append(df.assign(_delivery=order, _delivered_on=pd.Timestamp(day)))
    return pd.concat(frames, ignore_index=True)


def current_register(rows: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """The contract's rule, one delivery at a time: a person's latest row wins; `deleted` retracts its record_id."""
    by_person: dict[str, dict] = {}
    person_of_record: dict[str, str] = {}
    for _, delivery in rows[rows["_delivered_on"] <= pd.Timestamp(as_of)].groupby("_delivery", sort=True):
        for r in delivery.to_dict("records"):
            deleted = _true(r.get("deleted"))
            earlier = person_of_record.pop(r["record_id"], None)  # a correction or retraction of the same record
            if earlier is not None and by_person.get(earlier, {}).get("record_id") == r["record_id"]:
                del by_person[earlier]
            if not deleted:
                by_person[r["person_id"]] = r
                person_of_record[r["record_id"]] = r["person_id"]
    return pd.DataFrame(list(by_person.values()))


def _true(value) -> bool:
    """A delivered boolean (parquet bool, CSV text, or missing = false)."""
    return value is not None and not (not isinstance(value, str) and pd.isna(value)) and str(value).lower() in ("true", "1")


def age_band(birth_year_month: str, as_of: date) -> str:
    year, month = (int(x) for x in birth_year_month.split("-"))
    years = ((as_of.year - year) * 12 + as_of.month - month) // 12  # whole years: a 17-year-old is 17
    return "0-17" if years < 18 else "18-24" if years < 25 else "25-44" if years < 45 else "45-64" if years < 65 else "65+"


def eligible_people(cfg, as_of: date) -> pd.DataFrame:
    reg = current_register(delivered_register(cfg.archive), as_of)
    teams = pd.read_csv(cfg.neighbourhoods, dtype=str).set_index("lsoa21")["team"]
    died = pd.to_datetime(reg["date_of_death"]).dt.date
    living = died.isna() | (died > as_of)
    opted_out = reg["opted_out"].map(_true) if "opted_out" in reg else False
    people = reg[living & ~opted_out].copy()
    people["team"] = people["lsoa21"].map(teams)
    people = people[people["team"].notna()]
    people["sex"] = people["sex"].fillna("U").replace("", "U")
    people["ethnic_group"] = people["ethnic_group"].fillna("Z").replace("", "Z")
    people["age_band"] = [age_band(b, as_of) for b in people["birth_year_month"]]
    return people[["person_id", "team", "sex", "age_band", "ethnic_group"]]


def published_lists(run: Path) -> dict[str, set[str]]:
    lists = {}
    for path in sorted((run / "lists").glob("*.csv")):
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert set(df["tier"]) <= {"crisis", "wobbling"}
        lists[path.stem] = set(df["person_id"])
    return lists


def expected_rates(people: pd.DataFrame, lists: dict[str, set[str]], min_count: int) -> list[dict]:
    everyone = set().union(*lists.values())
    out = []
    scopes = [(None, people, everyone)] + [(t, people[people["team"] == t], lists.get(t, set()))
                                           for t in sorted(people["team"].unique())]
    for team, frame, listed in scopes:
        for kind in KINDS:
            counts = frame.assign(listed=frame["person_id"].isin(listed)).groupby(kind)["listed"].agg(["size", "sum"])
            small = lambda n: 0 < n < min_count  # noqa: E731
            shown = counts[~counts["size"].map(small) & ~counts["sum"].map(small)]
            ref = None
            if len(shown):
                biggest = shown.sort_values("size", ascending=False, kind="stable").iloc[0]
                ref = biggest["sum"] / biggest["size"]
            for group, (n, k) in counts.iterrows():
                if small(n) or small(k):
                    out.append({"team": team, "group_kind": kind, "group": group, "rate": None, "ci_low": None,
                                "ci_high": None, "ratio": None, "flagged": False})
                    continue
                low, high = proportion_confint(int(k), int(n), alpha=0.05, method="wilson")
                rate = k / n
                ratio = rate / ref if ref else None
                flagged = ratio is not None and not 0.8 <= ratio <= 1.25 and not low <= ref <= high
                out.append({"team": team, "group_kind": kind, "group": group, "rate": rate, "ci_low": low,
                            "ci_high": high, "ratio": ratio, "flagged": bool(flagged)})
    return out


def _key(e: dict) -> tuple:
    return (e["team"] or "", e["group_kind"], e["group"])


# ------------------------------------------------------------------ the comparison


@pytest.mark.xdist_group("selection_independent")
def test_every_published_selection_rate_matches_a_count_from_the_lists_and_the_register(night):
    cfg, manifest = night["cfg"], night["manifest"]
    published = manifest["fairness"]["selection_rates"]
    people = eligible_people(cfg, AS_OF)
    lists = published_lists(night["run"])
    assert sum(map(len, lists.values())) >= 50, "too few listed people for the check to mean anything"
    tiers = pd.concat(pd.read_csv(p, dtype=str) for p in (night["run"] / "lists").glob("*.csv"))["tier"]
    assert {"crisis", "wobbling"} <= set(tiers), "both tiers must be on the lists for this check"
    want = {_key(e): e for e in expected_rates(people, lists, cfg.suppression.min_count)}
    got = {_key(e): e for e in published}
    assert set(got) == set(want), (sorted(set(want) - set(got))[:5], sorted(set(got) - set(want))[:5])
    problems = []
    for key, w in want.items():
        g = got[key]
        for field in ("rate", "ci_low", "ci_high", "ratio"):
            if (w[field] is None) != (g[field] is None) or (
                    w[field] is not None and g[field] != pytest.approx(w[field], rel=1e-9, abs=1e-12)):
                problems.append(f"{key} {field}: published {g[field]}, recomputed {w[field]}")
        if bool(g["flagged"]) != w["flagged"]:
            problems.append(f"{key} flagged: published {g['flagged']}, recomputed {w['flagged']}")
    assert not problems, f"{len(problems)} disagreements, first: " + "; ".join(problems[:8])
    # the check covered what it must: the place and every team, each group kind, shown and withheld rows
    assert {e["team"] for e in published} == {None, *cfg.teams}
    assert any(w["rate"] is None for w in want.values()) and sum(w["rate"] is not None for w in want.values()) > 20
    assert any(w["ratio"] is not None and w["ratio"] > 1 for w in want.values())  # the reference is not the top rate


@pytest.mark.xdist_group("selection_independent")
def test_a_flagged_group_is_a_warning_in_the_run_status_and_the_pages_show_the_rates(night):
    manifest, run = night["manifest"], night["run"]
    flagged = [e for e in manifest["fairness"]["selection_rates"] if e["flagged"]]
    status = json.loads((night["cfg"].out / "status.json").read_text(encoding="utf-8"))
    warned = [w for w in status.get("warnings", []) if w.startswith("selection rate outside four-fifths")]
    assert len(warned) == len(flagged)
    overview = (run / "overview.html").read_text(encoding="utf-8")
    assert 'id="who-is-listed"' in overview
    for e in manifest["fairness"]["selection_rates"]:
        if e["team"] is None and e["rate"] is not None:
            assert f"{100 * e['rate']:.2f}%" in overview
