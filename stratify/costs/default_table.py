"""The project's default unit-cost table, derived line by line from the GMCA Unit Cost Database v1.4.

Why a builder and not a hand-typed CSV: every figure of
`default_unit_costs.csv` can then be traced (and is checked by a test) to
one line of the database as shipped in `reference/`, in one price year,
the database's own 2015/16 re-pricing (`fiscal_cost_gbp_2015_16`, made
with HM Treasury's GDP deflators of March 2015).

Principles (docs/costs.md says more):

- Each event is costed at what it costs the agency that recorded it (the
  database's fiscal cost to that agency), not the wider economic and social
  values some lines add.
- A per-year line becomes `per_week` (divided by 365.25 / 7 weeks) and is
  applied over the stay; per-week and per-bed-day lines are used as they are.
- An event type with no natural line gets a named proxy line, or zero, and
  `reference` says which and why.

Source: GMCA Research Team, Unit Cost Database v1.4 (CC BY 4.0).
Run `python -m stratify.costs.default_table` to rewrite the CSV.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from stratify.contract import load_contract
from stratify.resources import COSTS_DIR

DATABASE_PATH = COSTS_DIR / "reference" / "gmca-unit-cost-database-v1.4.tsv"
DEFAULT_TABLE_PATH = COSTS_DIR / "default_unit_costs.csv"
PRICE_YEAR = "2015/16"
CREDIT = "GMCA Research Team, Unit Cost Database v1.4 (CC BY 4.0)"
WEEKS_PER_YEAR = Decimal("365.25") / Decimal(7)
# The database's one police line without a code: the police share of the average cost of a crime.
POLICE_CRIME_LINE = "Crime - average fiscal cost per incident of crime, across all types of crime; police costs"
COLUMNS = ("source", "event_type", "cost_gbp", "unit", "price_year", "reference")


@dataclass(frozen=True)
class Choice:
    """How one contract event type is costed: a database line (or none), how it is converted, and why."""

    source: str
    event_type: str
    line: str | None  # a code, POLICE_CRIME_LINE, or None (costed at zero)
    unit: str  # per_event, per_day or per_week, as applied
    convert: str  # "as_is", "year_to_week" or "hours:N" (N hours of a per-hour line)
    why: str


def _c(source: str, event_type: str, line: str | None, unit: str, convert: str, why: str) -> Choice:
    return Choice(source, event_type, line, unit, convert, why)


CHOICES: tuple[Choice, ...] = (
    # health
    _c("health", "ae_attendance", "HE4.0", "per_event", "as_is",
       "A&E attendance, all scenarios (the contract does not say whether it led to admission)"),
    _c("health", "emergency_admission", "HE7.0.2", "per_event", "as_is",
       "non-elective inpatient episode; the episode cost already holds an average stay, so length_of_stay_days "
       "is not multiplied in"),
    _c("health", "elective_admission", "HE7.0.1", "per_event", "as_is",
       "elective inpatient episode (average stay included, as for emergency admissions)"),
    _c("health", "mental_health_referral", "HE16.0", "per_event", "as_is",
       "proxy: no per-referral line; a referral costed as one community mental health contact (its first assessment)"),
    _c("health", "mental_health_crisis", "HE16.1", "per_event", "as_is",
       "proxy: no per-episode crisis line; one contact with a specialist mental health team"),
    _c("health", "mental_health_detention", "HE14.0.1", "per_day", "as_is",
       "proxy: the database has no line for a Mental Health Act detention; costed as adult mental health "
       "inpatient bed days over the detention (event_date to end_date, an open one to the as-of date); the "
       "legal process (AMHP and doctors' assessments, tribunal) is not costed"),
    _c("health", "self_harm", "HE4.0", "per_event", "as_is",
       "proxy: no self-harm line; a self-harm presentation costed as an A&E attendance (a place that also "
       "records the same visit as ae_attendance should set this to 0)"),
    _c("health", "overdose", "HE3.0.2", "per_event", "as_is",
       "proxy: no overdose line; an ambulance call-out that sees, treats and conveys (the attendance itself "
       "is its own ae_attendance row)"),
    _c("health", "substance_treatment_start", "HE2.2", "per_week", "year_to_week",
       "structured community drug treatment, per year, as a weekly cost over the treatment spell "
       "(start to exit, an open spell to the as-of date)"),
    _c("health", "substance_treatment_exit", None, "per_event", "as_is",
       "zero: the end of a treatment spell, which is costed on its start row"),
    _c("health", "gp_missed_appointment", "HE20.2", "per_event", "as_is",
       "a missed appointment wastes one face-to-face GP consultation (11.7 minutes)"),
    # social care
    _c("social_care", "adult_contact", "SS18.1", "per_event", "hours:1",
       "proxy: no adult front-door contact line; one hour of an adult social worker (close to SS6.1, children's "
       "initial contact, 41.42)"),
    _c("social_care", "adult_assessment", "SS6.3", "per_event", "as_is",
       "proxy: the database has no adult social care assessment; the children's social care initial assessment "
       "(about ten hours of an adult social worker at SS18.1)"),
    _c("social_care", "adult_safeguarding_concern", "SS6.2", "per_event", "as_is",
       "proxy: no adult safeguarding line; a concern costed as a children's social care referral"),
    _c("social_care", "adult_s42_enquiry", "SS5.0.7", "per_event", "as_is",
       "proxy: the database has no adult safeguarding (s42) enquiry; the children's Section 47 enquiry, its "
       "statutory counterpart for children"),
    _c("social_care", "adult_care_package_start", "SS11.1", "per_week", "as_is",
       "home care package for adults and older people, per week, over the package (start to end_date, an open "
       "package to the as-of date)"),
    _c("social_care", "child_referral", "SS6.2", "per_event", "as_is", "children's social care referral"),
    _c("social_care", "child_in_need_start", "SS5.0", "per_event", "as_is",
       "children in need: the database's standard cost of six months of case management, taken as one episode"),
    _c("social_care", "child_protection_start", "SS4.0.1", "per_event", "as_is",
       "child protection core assessment, the cost to social services; the plan's later work has no line"),
    _c("social_care", "child_protection_end", None, "per_event", "as_is",
       "zero: the end of a plan, costed on its start row"),
    _c("social_care", "looked_after_start", "SS1.0", "per_week", "year_to_week",
       "child in care, average across care settings, per year, as a weekly cost over the period in care "
       "(start to end_date, an open one to the as-of date)"),
    _c("social_care", "looked_after_end", "SS2.4", "per_event", "as_is",
       "exit from care or accommodation (case management)"),
    _c("social_care", "care_leaver", "SS2.8", "per_event", "as_is",
       "transition to leaving care services (case management)"),
    # housing
    _c("housing", "homeless_approach", "HO1.0.5", "per_event", "as_is",
       "administering a decision on a homelessness application"),
    _c("housing", "prevention_duty", "HO2.0.1", "per_event", "as_is",
       "homelessness prevention or housing options scheme"),
    _c("housing", "relief_duty", "HO5.3", "per_event", "as_is",
       "proxy: relief is help to secure accommodation; securing a private tenancy through a rent "
       "deposit/guarantee scheme"),
    _c("housing", "main_duty", "HO3.0.4", "per_event", "as_is",
       "administration of a new letting after a homelessness application is accepted (HO3.0 as a whole also "
       "holds temporary accommodation, which is costed on its own rows)"),
    _c("housing", "temporary_accommodation_start", "HO4.4", "per_week", "as_is",
       "temporary accommodation in private landlords' stock, per week (between hostel HO4.0 and bed and "
       "breakfast HO4.1), over the stay (start to end_date, an open stay to the as-of date)"),
    _c("housing", "temporary_accommodation_end", None, "per_event", "as_is",
       "zero: the end of a stay, costed on its start row"),
    _c("housing", "rough_sleeping", "HO6.0", "per_event", "year_to_week",
       "annual local authority expenditure per rough sleeper, per year, as one week for each record of rough "
       "sleeping (a record is a sighting, not a stay with an end)"),
    _c("housing", "eviction_notice", "HO1.0.2", "per_event", "as_is",
       "proxy: administrative costs of eviction (the complex eviction HO1.0 adds arrears write-off and "
       "re-letting, which only follow an eviction carried out)"),
    _c("housing", "rent_arrears", None, "per_event", "as_is",
       "zero: arrears are money owed to the landlord, not a service cost; the database prices only their "
       "write-off (HO1.0.1), which the contract does not record"),
    _c("housing", "asb_case", "CR1.0", "per_event", "as_is",
       "anti-social behaviour needing further action (the cost of dealing with the incident)"),
    # police
    _c("police", "incident", "CR1.1", "per_event", "as_is",
       "proxy: no general incident line; simple police reporting of an incident"),
    _c("police", "domestic_abuse_incident", "CR2.0.3", "per_event", "as_is",
       "domestic violence, fiscal cost to the police (health, justice and council shares are their own lines)"),
    _c("police", "missing_person", POLICE_CRIME_LINE, "per_event", "as_is",
       "proxy: no missing-person line; the police cost of an average incident of crime (the unnumbered line "
       "after CR8.0)"),
    _c("police", "mental_health_incident", POLICE_CRIME_LINE, "per_event", "as_is",
       "proxy: no line for a mental health incident; the police cost of an average incident of crime "
       "(the unnumbered line after CR8.0)"),
    _c("police", "arrest", "CR7.0", "per_event", "as_is",
       "arrest, detained (the contract does not say whether there was further action; CR7.1 would be 345.32)"),
    _c("police", "custody", None, "per_event", "as_is",
       "zero: the database has no line for a custody episode; the detention is part of CR7.0, arrest "
       "(detained), costed on the arrest row"),
    _c("police", "asb_report", "CR1.1", "per_event", "as_is",
       "anti-social behaviour reported to the police, no further action"),
    _c("police", "violent_crime", "CR8.3.1", "per_event", "as_is",
       "other wounding (violence with injury), fiscal cost to the police, between common assault CR8.5.1 "
       "and serious wounding CR8.2.1"),
    _c("police", "other_crime", POLICE_CRIME_LINE, "per_event", "as_is",
       "the police cost of an average incident of crime (the unnumbered line after CR8.0)"),
)


@dataclass(frozen=True)
class DatabaseLine:
    code: str
    description: str
    unit: str
    cost_2015_16: Decimal


def read_database(path: Path = DATABASE_PATH) -> dict[str, DatabaseLine]:
    """The database's lines by code (the one uncoded police line by its description)."""
    lines: dict[str, DatabaseLine] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            key = row["code"].strip() or row["description"].strip()
            value = row["fiscal_cost_gbp_2015_16"].strip()
            if value:
                lines.setdefault(key, DatabaseLine(row["code"].strip(), row["description"].strip(),
                                                   row["unit"].strip(), Decimal(value)))
    return lines


def _cost(choice: Choice, line: DatabaseLine | None) -> Decimal:
    if line is None:
        return Decimal("0.00")
    value = line.cost_2015_16
    if choice.convert == "year_to_week":
        value = value / WEEKS_PER_YEAR
    elif choice.convert.startswith("hours:"):
        value = value * Decimal(choice.convert.split(":", 1)[1])
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _reference(choice: Choice, line: DatabaseLine | None) -> str:
    if line is None:
        return f"not costed: {choice.why}"
    name = line.code or "uncoded line"
    if choice.convert == "year_to_week":
        how = f", divided by {WEEKS_PER_YEAR:.4f} weeks a year"
    elif choice.convert.startswith("hours:"):
        how = f", times {choice.convert.split(':', 1)[1]} hour(s)"
    else:
        how = ""
    return (f"{CREDIT}, {name} '{line.description}', {line.cost_2015_16} {line.unit.lower()} at "
            f"{PRICE_YEAR} prices{how}: {choice.why}")


def default_rows(database: Path = DATABASE_PATH) -> list[dict[str, str]]:
    """The default table's rows, in contract order, from the database file."""
    lines = read_database(database)
    by_key = {(c.source, c.event_type): c for c in CHOICES}
    rows = []
    for source in load_contract().event_sources:
        for event_type in source.event_types:
            choice = by_key.get((source.name, event_type))
            if choice is None:
                raise KeyError(f"default costs: no choice made for {source.name}.{event_type}; add one to CHOICES")
            line = lines[choice.line] if choice.line else None
            rows.append({"source": source.name, "event_type": event_type, "cost_gbp": f"{_cost(choice, line)}",
                         "unit": choice.unit, "price_year": PRICE_YEAR, "reference": _reference(choice, line)})
    return rows


def default_csv_text(database: Path = DATABASE_PATH) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(default_rows(database))
    return buf.getvalue()


if __name__ == "__main__":
    DEFAULT_TABLE_PATH.write_text(default_csv_text(), encoding="utf-8")
    print(DEFAULT_TABLE_PATH)
