"""The place's own priorities (`priorities:` in the place configuration), as checked pydantic models.

Each priority has an `id`, a `name` and a `cohort`: who falls under it,
defined over what the warehouse knows. Every criterion given must hold (AND);
inside a criterion the listed types or domains are alternatives (OR).

```yaml
priorities:
  - id: homelessness
    name: Homelessness
    cohort:
      domains: {names: [homelessness], window_days: 365}
  - id: care_leavers
    name: Transition to adulthood for care leavers
    cohort:
      age: {min: 16, max: 25}
      events: [{types: [care_leaver, looked_after_start, looked_after_end]}]   # no window: all history
  - id: frail_elderly
    name: Frail elderly
    cohort:
      age: {min: 75}
      events: [{types: [emergency_admission, adult_care_package_start, adult_assessment], window_days: 365}]
```

Criteria: `age` (whole years at the as-of date, from `birth_year_month`),
`events` (a list; each: `types`, `window_days` (none = all history),
`min_count`), `domains` (`names`, `window_days`, `min_count` of the named
domains active), `household` (`min_members`, `with_children` (someone under
18 lives there), `others_with_domains` (other members with a disadvantage
domain active in 365 days), `child_on_plan` (a member came under a child in
need or protection plan or into care in 365 days)), and the register's
`sex`, `ethnic_group`, `lsoa21` and the person's `teams`. The dead are left
out unless `include_died: true`.

School readiness needs an education source (early years outcomes) that
contract v1 does not have: it cannot be defined until one is added.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stratify.costs.settings import EventRef, resolve_event_type

ID_PATTERN = r"^[a-z][a-z0-9_]{0,40}$"
NOT_EXPRESSIBLE = {
    "school_readiness": "School readiness needs an education source (early years foundation stage outcomes, "
                        "school entry) that data contract v1 does not have; it can be defined once the "
                        "contract adds one.",
}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AgeRange(_Model):
    min: int | None = Field(default=None, ge=0, le=120)
    max: int | None = Field(default=None, ge=0, le=120)

    @model_validator(mode="after")
    def _ordered(self) -> AgeRange:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both (whole years at the as-of date)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is above max")
        return self


class EventCriterion(_Model):
    types: tuple[EventRef, ...]
    window_days: int | None = Field(default=None, ge=1, le=36500)  # None: all the history the warehouse holds
    min_count: int = Field(default=1, ge=1)

    @field_validator("types", mode="before")
    @classmethod
    def _types(cls, value: Any) -> tuple[EventRef, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError("a non-empty list of contract event types")
        return tuple(v if isinstance(v, EventRef) else resolve_event_type(v) for v in value)


class DomainCriterion(_Model):
    names: tuple[str, ...] = Field(min_length=1)
    window_days: int = Field(default=365, ge=1, le=36500)
    min_count: int = Field(default=1, ge=1)


class HouseholdCriterion(_Model):
    min_members: int | None = Field(default=None, ge=1)
    with_children: bool | None = None
    others_with_domains: int | None = Field(default=None, ge=1)
    child_on_plan: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> HouseholdCriterion:
        if all(v is None for v in (self.min_members, self.with_children, self.others_with_domains,
                                   self.child_on_plan)):
            raise ValueError("give at least one of min_members, with_children, others_with_domains, child_on_plan")
        return self


class Cohort(_Model):
    age: AgeRange | None = None
    events: tuple[EventCriterion, ...] = ()
    domains: DomainCriterion | None = None
    household: HouseholdCriterion | None = None
    sex: tuple[str, ...] | None = None
    ethnic_group: tuple[str, ...] | None = None
    lsoa21: tuple[str, ...] | None = None
    teams: tuple[str, ...] | None = None
    include_died: bool = False

    @field_validator("events", mode="before")
    @classmethod
    def _events(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _some_criterion(self) -> Cohort:
        if (self.age is None and not self.events and self.domains is None and self.household is None
                and all(v is None for v in (self.sex, self.ethnic_group, self.lsoa21, self.teams))):
            raise ValueError("a cohort needs at least one criterion (age, events, domains, household, sex, "
                             "ethnic_group, lsoa21 or teams)")
        return self


class Priority(_Model):
    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    cohort: Cohort


def _where(i: int, loc: tuple) -> str:
    parts = [f"priorities[{i}]"] + [f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc]
    return "".join(parts)


def parse_priorities(raw: Any, domain_names: tuple[str, ...] = ()) -> tuple[Priority, ...]:
    """`priorities:` checked; every bad key of every priority named in one ConfigError."""
    from stratify.config import ConfigError

    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError("priorities: must be a list of {id, name, cohort}")
    found: list[str] = []
    out: list[Priority] = []
    for i, item in enumerate(raw):
        try:
            p = Priority.model_validate(item)
        except ValidationError as exc:
            found += [f"{_where(i, e['loc'])}: {e['msg']}" for e in exc.errors()]
            continue
        if p.cohort.domains and domain_names:
            for name in p.cohort.domains.names:
                if name not in domain_names:
                    found.append(f"priorities[{i}].cohort.domains.names: {name!r} is not a configured domain "
                                 f"({', '.join(domain_names)})")
        out.append(p)
    ids = [p.id for p in out]
    if len(set(ids)) != len(ids):
        found.append("priorities: ids must be unique")
    if found:
        raise ConfigError(problems=found)
    return tuple(out)
