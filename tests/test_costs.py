"""Unit costs: the default table, a place's own table, a broken one, and each person's cost.

The end-to-end tests run the pipeline on a synthetic place and recompute the
cost of every listed person independently, from the delivered parquet files
and the cost table with pandas (not the SQL): the last delivered version of
each record, retractions dropped, stays costed per day or week over the days
no earlier stay of the same kind covered.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from stratify.config import ConfigError, load_config
from stratify.contract import load_contract
from stratify.costs.default_table import DEFAULT_TABLE_PATH, PRICE_YEAR, default_csv_text, read_database
from stratify.costs.table import UnitCostTableError, default_unit_costs, load_unit_costs
from tests.helpers import no_settle_pause, write_place

AS_OF = date(2026, 11, 20)


# --------------------------------------------------------------------------- the default table


def test_default_table_is_derived_from_the_database_in_one_price_year():
    assert DEFAULT_TABLE_PATH.read_text(encoding="utf-8") == default_csv_text(), \
        "default_unit_costs.csv is stale: run python -m stratify.costs.default_table"
    table = default_unit_costs()
    assert table.price_years == (PRICE_YEAR,)
    assert {(r.source, r.event_type) for r in table.rows} == load_contract().all_event_types()
    lines = read_database()
    for r in table.rows:
        if r.cost_gbp == 0:
            assert r.reference.startswith("not costed: ") and len(r.reference) > 30, r
            continue
        assert "GMCA Research Team, Unit Cost Database v1.4" in r.reference
        code = r.reference.split("(CC BY 4.0), ", 1)[1].split(" '", 1)[0]
        line = lines[code] if code != "uncoded line" else next(v for v in lines.values() if not v.code)
        figure = line.cost_2015_16
        if "divided by" in r.reference:  # a per-year line as a weekly figure
            assert abs(float(r.cost_gbp) - float(figure) * 7 / 365.25) < 0.006, r
        elif "times 1 hour" in r.reference:
            assert r.cost_gbp == figure
        else:
            assert r.cost_gbp == figure, r
    by_type = {r.event_type: r for r in table.rows}
    for event_type in ("mental_health_detention", "custody", "adult_s42_enquiry", "adult_assessment"):
        assert "the database has no" in by_type[event_type].reference, event_type
    assert by_type["temporary_accommodation_start"].unit == "per_week"
    assert by_type["looked_after_start"].unit == "per_week"  # a per-year line, converted


# --------------------------------------------------------------------------- a broken table


def _write_table(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["source", "event_type", "cost_gbp", "unit", "price_year", "reference"])
        w.writeheader()
        w.writerows(rows)
    return path


def _default_rows() -> list[dict]:
    with open(DEFAULT_TABLE_PATH, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_a_broken_table_is_refused_with_each_bad_row_named(tmp_path):
    rows = _default_rows()
    rows[0]["cost_gbp"] = "-5"  # line 2
    rows[1]["unit"] = "per_month"  # line 3
    rows[2]["price_year"] = "2015"  # line 4
    rows[3]["cost_gbp"] = "cheap"  # line 5
    rows[4]["event_type"] = "hospital_visit"  # line 6 (and health.mental_health_crisis now missing)
    rows.append(dict(rows[6]))  # line 44 duplicates line 8
    del rows[10]  # health.gp_missed_appointment missing
    path = _write_table(tmp_path / "costs.csv", rows)
    with pytest.raises(UnitCostTableError) as err:
        load_unit_costs(path)
    text = "\n".join(err.value.problems)
    for expected in ("line 2, column cost_gbp: '-5' must be 0 or more",
                     "line 3, column unit: 'per_month' is not one of per_event, per_day, per_week",
                     "line 4, column price_year: '2015' is not a financial year",
                     "line 5, column cost_gbp: 'cheap' must be a decimal",
                     "line 6, column event_type: 'hospital_visit' is not a health event type",
                     "is already on line 8",
                     "no row for health.mental_health_crisis",
                     "no row for health.gp_missed_appointment"):
        assert expected in text, (expected, text)
    assert len(err.value.problems) == 8


def test_a_broken_table_stops_the_run_before_anything_else(tmp_path):
    from stratify.cli import main

    rows = _default_rows()
    rows[0]["cost_gbp"] = "-1"
    _write_table(tmp_path / "own_costs.csv", rows)
    with pytest.raises(ConfigError) as err:
        write_place(tmp_path, extra="costs: own_costs.csv\n")
    assert "own_costs.csv: line 2, column cost_gbp" in str(err.value)
    assert main(["run", "--config", str(tmp_path / "place.yaml"), "--as-of", "2026-11-20"]) == 2
    assert not (tmp_path / "wh.duckdb").exists() and not (tmp_path / "out").exists()


def test_header_problems_and_missing_file_are_named(tmp_path):
    (tmp_path / "bad.csv").write_text("source,event_type,cost,unit\n", encoding="utf-8")
    with pytest.raises(UnitCostTableError, match="missing column\\(s\\) cost_gbp, price_year, reference"):
        load_unit_costs(tmp_path / "bad.csv")
    with pytest.raises(UnitCostTableError, match="does not exist"):
        load_unit_costs(tmp_path / "nope.csv")


# --------------------------------------------------------------------------- the independent computation


def delivered_events(cfg, as_of: date) -> pd.DataFrame:
    """Every event as the delivered files say: last version of each record wins, retractions dropped."""
    contract = load_contract()
    frames = []
    for folder in (cfg.landing, cfg.archive):
        for path in folder.rglob("*.parquet"):
            name = contract.parse_file_name(path.name)
            if name is None or contract.source(name.source).kind != "event" or name.delivery_date > as_of:
                continue
            df = pd.read_parquet(path)
            df["source"] = name.source
            df["_order"] = name.delivery_date.toordinal() * 1000 + name.seq
            frames.append(df)
    events = pd.concat(frames, ignore_index=True).sort_values("_order", kind="stable")
    events = events.drop_duplicates(["source", "record_id"], keep="last")
    events = events[~events["deleted"].fillna(False).astype(bool)]
    for col in ("event_date", "end_date"):
        events[col] = pd.to_datetime(events[col]).dt.date
    return events[events["event_date"] <= as_of]


def register(cfg, as_of: date) -> pd.DataFrame:
    contract = load_contract()
    frames = []
    for folder in (cfg.landing, cfg.archive):
        for path in folder.rglob("register_*.parquet"):
            name = contract.parse_file_name(path.name)
            if name and name.delivery_date <= as_of:
                frames.append(pd.read_parquet(path).assign(_order=name.delivery_date.toordinal() * 1000 + name.seq))
    reg = pd.concat(frames).sort_values("_order", kind="stable").drop_duplicates("person_id", keep="last")
    reg["date_of_death"] = pd.to_datetime(reg["date_of_death"]).dt.date
    return reg.set_index("person_id")


def independent_costs(events: pd.DataFrame, reg: pd.DataFrame, table: pd.DataFrame, as_of: date) -> dict[str, float]:
    """Each person's cost in the 365 days to `as_of`, computed row by row in Python."""
    costs = {(r.source, r.event_type): (float(r.cost_gbp), r.unit) for r in table.itertuples()}
    first_day = as_of - timedelta(days=364)
    out: dict[str, float] = {}
    covered: dict[tuple, date] = {}
    events = events.assign(stay_end=events.apply(lambda r: _stay_end(r, reg, as_of), axis=1))
    for r in events.sort_values(["person_id", "source", "event_type", "event_date", "stay_end"]).itertuples():
        cost, unit = costs[(r.source, r.event_type)]
        if r.source == "social_care" and r.role == "parent_carer":
            cost = 0.0
        if unit == "per_event":
            value = cost if r.event_date > as_of - timedelta(days=365) else 0.0
        else:
            key = (r.person_id, r.source, r.event_type)
            start = max(r.event_date, covered.get(key, r.event_date))
            end = max(r.stay_end, start)
            covered[key] = max(covered.get(key, r.stay_end), r.stay_end)
            days = max(0, (end - max(start, first_day)).days)
            value = cost * days / (7.0 if unit == "per_week" else 1.0)
        out[r.person_id] = out.get(r.person_id, 0.0) + value
    return out


def _stay_end(r, reg: pd.DataFrame, as_of: date) -> date:
    if pd.notna(r.end_date):
        end = r.end_date
    elif "length_of_stay_days" in r.index and pd.notna(r.length_of_stay_days):
        end = r.event_date + timedelta(days=int(r.length_of_stay_days))
    else:
        death = reg["date_of_death"].get(r.person_id)
        end = min(as_of, death) if death is not None and pd.notna(death) else as_of
    return max(min(end, as_of), r.event_date + timedelta(days=1))


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A 2,000-person synthetic place after one published night."""
    from stratify.run.pipeline import run_pipeline
    from stratify.synth.generate import synthesize

    folder = tmp_path_factory.mktemp("costs_place")
    (folder / "place.yaml").write_text(
        "place: costs\nlanding: landing\nwarehouse: w.duckdb\nout: out\nneighbourhoods: neighbourhoods.csv\n"
        "capacity:\n  default: 30\n", encoding="utf-8")
    cfg = load_config(folder / "place.yaml")
    summary = synthesize(cfg, people=2000, as_of=AS_OF, seed=7)
    with no_settle_pause():
        result = run_pipeline(cfg, AS_OF)
    assert result["status"] == "published", result
    listed = pd.concat([pd.read_csv(p, dtype=str) for p in (cfg.out / "latest" / "lists").glob("*.csv")])
    return {"cfg": cfg, "folder": folder, "listed": sorted(set(listed["person_id"])), "result": result,
            "brian": summary.brian_person_id}


def _person_costs(cfg, people: list[str]) -> pd.DataFrame:
    import duckdb

    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        return con.execute("SELECT * FROM person_costs WHERE list_contains($1, person_id)", [people]).df() \
            .set_index("person_id")
    finally:
        con.close()


@pytest.mark.slow
def test_cost_12m_of_listed_people_equals_an_independent_computation(place):
    cfg, listed = place["cfg"], place["listed"]
    assert len(listed) >= 20
    events = delivered_events(cfg, AS_OF)
    expected = independent_costs(events[events["person_id"].isin(listed)], register(cfg, AS_OF),
                                 pd.read_csv(DEFAULT_TABLE_PATH), AS_OF)
    got = _person_costs(cfg, listed)
    assert set(got.index) == set(listed)
    for person in listed:
        assert abs(got.loc[person, "cost_12m_gbp"] - round(expected.get(person, 0.0), 2)) < 0.011, person
    assert sum(expected.values()) > 0
    assert place["result"]["stages"]["costs"]["price_year"] == PRICE_YEAR


@pytest.mark.slow
def test_a_places_own_table_changes_the_figures(place):
    from stratify.costs.stage import cost_people
    from stratify.run.context import RunContext

    cfg, listed, folder = place["cfg"], place["listed"], place["folder"]
    before = _person_costs(cfg, listed)["cost_12m_gbp"]
    rows = _default_rows()
    for r in rows:  # the place's own prices: everything dearer, and A&E per attendance at its own figure
        r["cost_gbp"] = f"{float(r['cost_gbp']) * 1.5:.2f}"
        r["price_year"] = "2024/25"
        r["reference"] = "place's own finance team"
        if r["event_type"] == "ae_attendance":
            r["cost_gbp"] = "300.00"
    _write_table(folder / "own_costs.csv", rows)
    (folder / "own.yaml").write_text((folder / "place.yaml").read_text(encoding="utf-8") + "costs: own_costs.csv\n",
                                     encoding="utf-8")
    own = load_config(folder / "own.yaml")
    assert own.costs.price_year == "2024/25" and "own_costs.csv" in own.costs.source_text
    summary = cost_people(own, RunContext.new(own, AS_OF))
    assert summary["price_year"] == "2024/25"
    after = _person_costs(cfg, listed)["cost_12m_gbp"]
    expected = independent_costs(delivered_events(cfg, AS_OF).query("person_id in @listed"), register(cfg, AS_OF),
                                 pd.read_csv(folder / "own_costs.csv"), AS_OF)
    for person in listed:
        assert abs(after[person] - round(expected.get(person, 0.0), 2)) < 0.011, person
    changed = (after - before).abs() > 0.01
    assert changed.sum() >= len(listed) // 2
    cost_people(cfg, RunContext.new(cfg, AS_OF))  # back to the default table for the other tests


@pytest.mark.slow
def test_brian_over_ten_years_and_the_published_baseline(place):
    import duckdb

    from stratify.costs.person import person_cost_summary

    cfg = place["cfg"]
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        brian = person_cost_summary(con, cfg, place["brian"])
    finally:
        con.close()
    assert brian.years_of_history > 9.9
    assert brian.events_all >= 3355 and all(brian.events_all_by_agency.values())
    assert brian.cost_all_gbp > 500_000 and brian.assessments_all > 300
    assert "not an invoice" in brian.sentence() and PRICE_YEAR in brian.sentence()
    run = cfg.out / "latest"
    assert (run / "baseline.html").is_file() and (run / "baseline.json").is_file()
    import json

    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert {"baseline.html", "baseline.json"} <= {o["path"] for o in manifest["outputs"]}
    html = (run / "baseline.html").read_text(encoding="utf-8")
    assert place["brian"] not in html and place["listed"][0] not in html


# --------------------------------------------------------------------------- the SQL on tiny inline data


def _raw(con, person: str, source: str, event_type: str, on: date, end: date | None = None, los: int | None = None,
         role: str | None = None, delivered: date = date(2026, 11, 1), superseded: date | None = None,
         n: list[int] = [0]) -> None:  # noqa: B006 (a counter for record ids)
    n[0] += 1
    con.execute("INSERT INTO raw_events (source, record_id, person_id, event_date, event_type, end_date, "
                "length_of_stay_days, role, delivery_id, delivered_on, superseded_on) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10)",
                [source, f"t{n[0]}", person, on, event_type, end, los, role, delivered, superseded])


def test_costs_sql_on_tiny_inline_data(tmp_path):
    from stratify.costs.compute import build_baseline_persons, compute_costs
    from stratify.link import link_persons
    from stratify.run.context import RunContext
    from stratify.warehouse.database import connect
    from tests.helpers import add_person

    simple = {("health", "ae_attendance"): ("100", "per_event"),
              ("housing", "temporary_accommodation_start"): ("70", "per_week"),
              ("health", "emergency_admission"): ("5", "per_day"),
              ("social_care", "child_referral"): ("50", "per_event"),
              ("social_care", "adult_care_package_start"): ("7", "per_week")}
    rows = _default_rows()
    for r in rows:
        r["cost_gbp"], r["unit"] = simple.get((r["source"], r["event_type"]), ("0", "per_event"))
    _write_table(tmp_path / "simple.csv", rows)
    cfg = write_place(tmp_path, extra="costs: simple.csv\n")
    ago = lambda d: AS_OF - timedelta(days=d)  # noqa: E731
    with connect(cfg) as con:
        a = add_person(con, 1, household=1)
        b = add_person(con, 2, household=1, died=ago(100))
        c = add_person(con, 3, opted_out=True)
        d = add_person(con, 4)
        _raw(con, a, "health", "ae_attendance", ago(364))  # in the 365 days
        _raw(con, a, "health", "ae_attendance", ago(365))  # the day before them: all history only
        _raw(con, a, "housing", "temporary_accommodation_start", ago(400), end=ago(300))  # 100 days, 64 in window
        _raw(con, a, "housing", "temporary_accommodation_start", ago(350), end=ago(250))  # overlaps: 50 new days
        _raw(con, a, "housing", "temporary_accommodation_start", ago(10))  # open: 10 days to the as-of date
        _raw(con, a, "health", "emergency_admission", ago(20), los=4)  # 4 days at 5 a day
        _raw(con, a, "health", "ae_attendance", ago(50), superseded=ago(40))  # corrected away: not counted
        _raw(con, a, "health", "ae_attendance", ago(5), delivered=AS_OF + timedelta(days=1))  # not known yet
        _raw(con, a, "social_care", "child_referral", ago(30), role="parent_carer")  # the child's row carries it
        _raw(con, a, "social_care", "adult_contact", ago(30))  # costs 0 here, a handoff
        _raw(con, b, "social_care", "adult_care_package_start", ago(200))  # open, ends at death: 100 days
        _raw(con, c, "health", "ae_attendance", ago(3))  # opted out: never priced
    link_persons(cfg, RunContext.new(cfg, AS_OF))
    with connect(cfg) as con:
        compute_costs(con, cfg, AS_OF)
        people = con.execute("SELECT * FROM person_costs").df().set_index("person_id")
        households = con.execute("SELECT * FROM household_costs").df()
        teams = con.execute("SELECT * FROM team_costs").df()
        build_baseline_persons(con, cfg, AS_OF)  # the baseline's own, temporary, tables: the same figures
        compute_costs(con, cfg, AS_OF, prefix="baseline_")
        by_type = con.execute("SELECT * FROM baseline_event_type_costs").df().set_index(["source", "event_type"])
        again = con.execute("SELECT person_id, cost_12m_gbp, cost_all_gbp FROM baseline_person_costs").df()
    assert set(people.index) == {a, b, d}
    assert people.loc[a, "cost_12m_gbp"] == 100 + 640 + 500 + 100 + 20
    assert people.loc[a, "cost_all_gbp"] == 200 + 1000 + 500 + 100 + 20
    assert people.loc[a, "cost_12m_housing_gbp"] == 1240 and people.loc[a, "cost_12m_health_gbp"] == 120
    assert people.loc[a, "assessments_12m"] == 2 and people.loc[a, "agencies_12m"] == 3
    assert people.loc[a, "events_all"] == 8 and people.loc[a, "events_12m"] == 6  # dated in the 365 days
    assert people.loc[a, "cost_prev_12m_gbp"] == 100 + 360  # the attendance and 36 days of the first stay
    assert people.loc[b, "cost_12m_gbp"] == 100 and people.loc[b, "cost_all_gbp"] == 100
    assert people.loc[d, "cost_12m_gbp"] == 0 and people.loc[d, "agencies_12m"] == 0
    assert households.loc[0, "members"] == 2 and households.loc[0, "cost_12m_gbp"] == 1460
    assert teams.set_index("team").loc["NT01", "cost_12m_gbp"] == 1460
    assert by_type.loc[("housing", "temporary_accommodation_start"), "cost_all_gbp"] == 1600
    assert by_type.loc[("health", "ae_attendance"), "events_12m"] == 1
    assert again.set_index("person_id").sort_index().equals(people[["cost_12m_gbp", "cost_all_gbp"]].sort_index())
    for k, (alone, shared) in enumerate(years_each_on_their_own_and_in_one_pass(cfg, AS_OF)):  # the baseline's way
        assert shared == alone, k
    assert alone["people"] and shared["types"]


# --------------------------------------------------------------------------- the baseline's years in one pass

BENCH_PRIORITIES = """priorities:
  - {id: homelessness, name: Homelessness, cohort: {domains: {names: [homelessness], window_days: 365}}}
  - id: care_leavers
    name: Care leavers
    cohort: {age: {min: 16, max: 25}, events: [{types: [care_leaver, looked_after_start, looked_after_end]}]}
  - id: frail_elderly
    name: Frail elderly
    cohort:
      age: {min: 75}
      events: [{types: [emergency_admission, adult_care_package_start, adult_assessment], window_days: 365}]
  - {id: families, name: Families, cohort: {household: {with_children: true, others_with_domains: 1}}}
  - {id: on_plan, name: On a plan, cohort: {household: {child_on_plan: true, min_members: 2}}}
"""
YEAR_COLUMNS = ("person_id, household_id, team, died, as_of, cost_12m_gbp, cost_12m_health_gbp, "
                "cost_12m_social_care_gbp, cost_12m_housing_gbp, cost_12m_police_gbp, events_12m, events_12m_health, "
                "events_12m_social_care, events_12m_housing, events_12m_police, assessments_12m, agencies_12m")
TYPE_COLUMNS = ("source, event_type, unit_cost_gbp, unit, events_12m, round(cost_12m_gbp, 6), events_all, "
                "round(cost_all_gbp, 6), people_12m")


def _rows(con, sql: str) -> list[tuple]:
    return sorted(con.execute(sql).fetchall(), key=repr)


def years_each_on_their_own_and_in_one_pass(cfg, as_of: date, years: int = 3) -> list[tuple[dict, dict]]:
    """Each year priced on its own (`compute_costs(..., prefix="baseline_")`) and by `stratify.costs.years`."""
    from stratify.costs.compute import build_baseline_persons, compute_costs
    from stratify.costs.years import drop_years, prepare_years, year_tables
    from stratify.warehouse.database import connect

    dates = [as_of - timedelta(days=365 * k) for k in range(years)]
    queries = {"people": f"SELECT {YEAR_COLUMNS} FROM baseline_person_costs",
               "types": f"SELECT {TYPE_COLUMNS} FROM baseline_event_type_costs",
               "priorities": "SELECT person_id, household_id, team, priority_id FROM baseline_person_priorities"}
    out = []
    with connect(cfg) as con:
        alone = []
        for day in dates:
            build_baseline_persons(con, cfg, day, as_of)
            compute_costs(con, cfg, day, as_of, prefix="baseline_")
            alone.append({k: _rows(con, q) for k, q in queries.items()})
        prepare_years(con, cfg, dates, as_of)
        for k, day in enumerate(dates):
            year_tables(con, cfg, k, day)
            out.append((alone[k], {name: _rows(con, q) for name, q in queries.items()}))
        drop_years(con)
    return out


@pytest.mark.slow
def test_the_baseline_years_in_one_pass_are_each_year_priced_on_its_own(place):
    folder = place["folder"]
    (folder / "prio.yaml").write_text((folder / "place.yaml").read_text(encoding="utf-8") + BENCH_PRIORITIES,
                                      encoding="utf-8")
    cfg = load_config(folder / "prio.yaml")
    for k, (alone, shared) in enumerate(years_each_on_their_own_and_in_one_pass(cfg, AS_OF)):
        for name in alone:
            assert shared[name] == alone[name], (k, name)
        assert sum(r[5] for r in alone["people"]) > 0, k  # something costed in every year
        assert {r[3] for r in alone["priorities"]} >= {"homelessness", "frail_elderly", "families"}, k
