"""The costs stage's figures on the published lists: cost_12m_gbp, assessments_12m, priorities.

One synthetic place with three priorities, one published night. The
published list CSVs' `cost_12m_gbp` is compared with an independent pandas
computation from the delivered files (tests/test_costs.py's), the other two
columns with the costs stage's tables; `lists.priorities_only` and the team
page's household cost and priority sections are checked on the same place.
"""

from __future__ import annotations

import pandas as pd
import pytest

from stratify.config import load_config
from stratify.contract import load_contract
from stratify.costs.default_table import DEFAULT_TABLE_PATH
from stratify.costs.list_columns import HANDOFFS_STAND_OUT
from tests.helpers import no_settle_pause
from tests.test_costs import AS_OF, delivered_events, independent_costs, register

PRIORITIES = """priorities:
  - id: homelessness
    name: Homelessness
    cohort:
      domains: {names: [homelessness], window_days: 365}
  - id: frail_elderly
    name: Frail elderly
    cohort:
      age: {min: 75}
      events: [{types: [emergency_admission, adult_care_package_start, adult_assessment], window_days: 365}]
  - id: care_leavers
    name: Transition to adulthood for care leavers
    cohort:
      age: {min: 16, max: 25}
      events: [{types: [care_leaver, looked_after_start, looked_after_end]}]
"""
COST_COLUMNS = ["cost_12m_gbp", "assessments_12m", "priorities"]


def _warehouse(cfg, sql: str, params=None) -> pd.DataFrame:
    import duckdb

    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A 2,000-person synthetic place with three priorities, after one published night."""
    from stratify.run.pipeline import run_pipeline
    from stratify.synth.generate import synthesize

    folder = tmp_path_factory.mktemp("list_costs_place")
    base = ("place: listcosts\nlanding: landing\nwarehouse: w.duckdb\nout: out\nneighbourhoods: neighbourhoods.csv\n"
            "capacity:\n  default: 30\n" + PRIORITIES)
    (folder / "place.yaml").write_text(base, encoding="utf-8")
    (folder / "only.yaml").write_text(base + "lists:\n  priorities_only: true\n", encoding="utf-8")
    cfg = load_config(folder / "place.yaml")
    synthesize(cfg, people=2000, as_of=AS_OF, seed=7)
    with no_settle_pause():
        result = run_pipeline(cfg, AS_OF)
    assert result["status"] == "published", result
    paths = sorted((cfg.out / "latest" / "lists").glob("*.csv"))
    lists = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False).assign(team=p.stem) for p in paths])
    return {"cfg": cfg, "folder": folder, "lists": lists, "header": pd.read_csv(paths[0], nrows=0).columns.tolist()}


@pytest.mark.slow
def test_the_published_lists_carry_cost_handoffs_and_priorities(place):
    cfg, lists = place["cfg"], place["lists"]
    contract = list(load_contract().list_columns)
    assert place["header"][:len(contract)] == contract
    assert place["header"][len(contract):len(contract) + 3] == COST_COLUMNS  # right after the contract's
    assert len(lists) >= 20
    people = sorted(set(lists["person_id"]))
    expected = independent_costs(delivered_events(cfg, AS_OF).query("person_id in @people"), register(cfg, AS_OF),
                                 pd.read_csv(DEFAULT_TABLE_PATH), AS_OF)
    costs = _warehouse(cfg, "SELECT person_id, cost_12m_gbp, assessments_12m FROM person_costs "
                            "WHERE list_contains($1, person_id)", [people]).set_index("person_id")
    assert lists["cost_12m_gbp"].str.fullmatch(r"\d+\.\d\d").all()
    for r in lists.itertuples(index=False):
        assert abs(float(r.cost_12m_gbp) - round(expected.get(r.person_id, 0.0), 2)) < 0.011, r.person_id
        assert abs(float(r.cost_12m_gbp) - float(costs.loc[r.person_id, "cost_12m_gbp"])) < 0.006, r.person_id
        assert int(r.assessments_12m) == int(costs.loc[r.person_id, "assessments_12m"]), r.person_id
    assert (lists["cost_12m_gbp"].astype(float) > 0).any()
    order = [p.id for p in cfg.priorities]
    under = _warehouse(cfg, "SELECT person_id, priority_id FROM person_priorities")
    want = {pid: "; ".join(sorted(g["priority_id"], key=order.index)) for pid, g in under.groupby("person_id")}
    assert lists["priorities"].tolist() == [want.get(p, "") for p in lists["person_id"]]
    assert (lists["priorities"] != "").any() and (lists["priorities"] == "").any()
    stands_out = lists["assessments_12m"].astype(int) >= HANDOFFS_STAND_OUT
    told = lists["reasons"].str.contains("told their story again and again", regex=False)
    assert stands_out.any() and (told == stands_out).all()


@pytest.mark.slow
def test_priorities_only_lists_only_people_under_a_priority(place):
    from stratify.lists.stage import assemble_lists
    from stratify.run.context import RunContext

    only = load_config(place["folder"] / "only.yaml")
    assert only.lists.priorities_only
    under = set(_warehouse(only, "SELECT DISTINCT person_id FROM person_priorities")["person_id"])
    teams = assemble_lists(only, RunContext.new(only, AS_OF), {})
    listed = {pid for t in teams.values() for pid in t.listed["person_id"]}
    assert listed and listed <= under
    assert not set(place["lists"]["person_id"]) <= under  # without the key, people under no priority are listed
    for t in teams.values():  # capacity is applied after the filter: the lists fill up from the priorities' people
        assert len(t.listed) <= t.capacity


@pytest.mark.slow
def test_the_team_page_shows_the_household_cost_and_the_priorities(place):
    import openpyxl

    cfg, lists = place["cfg"], place["lists"]
    team = lists["team"].value_counts().index[0]
    html = (cfg.out / "latest" / "teams" / team / "report.html").read_text(encoding="utf-8")
    price_year = cfg.costs.price_year
    assert html.count("Household: estimated £") == (lists["team"] == team).sum()
    assert f"at {price_year} prices" in html and "not an invoice" in html
    assert "Unit Cost Database v1.4" in html
    for p in cfg.priorities:
        assert f'id="priority-{p.id}"' in html
    mine = lists[lists["team"] == team]
    homeless = mine[mine["priorities"].str.contains("homelessness")]
    section = html.split('id="priority-homelessness"')[1].split("</section>")[0]
    assert section.count('<code class="ref">') == len(homeless)
    book = openpyxl.load_workbook(cfg.out / "latest" / "teams" / team / f"{team}.xlsx")
    header = [c.value for c in book["Crisis"][1]]
    assert set(COST_COLUMNS) <= set(header)
