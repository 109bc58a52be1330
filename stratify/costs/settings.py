"""The place configuration's `costs` and `handoffs` keys, as checked values.

- `costs: FILE` names the place's unit-cost table (relative to the YAML
  file's folder); without it, the project's default table
  (`stratify/costs/default_unit_costs.csv`) is used. The table is read and
  checked when the configuration is loaded, so a bad table stops a run
  before anything else.
- `handoffs:` the event types counted as assessments, referrals and
  front-door contacts ("how many times they told their story"): a list of
  contract event types, each `event_type` or `source.event_type`.

`parse_costs` and `parse_handoffs` raise `stratify.config.ConfigError` with
one problem per bad entry, as every other key does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from stratify.contract import load_contract
from stratify.costs.table import UnitCostTable, UnitCostTableError, load_unit_costs

# Assessments, referrals and front-door contacts, across agencies.
DEFAULT_HANDOFFS: tuple[str, ...] = (
    "social_care.adult_contact", "social_care.adult_assessment", "social_care.adult_safeguarding_concern",
    "social_care.adult_s42_enquiry", "social_care.child_referral", "health.mental_health_referral",
    "housing.homeless_approach",
)


class EventRef(BaseModel):
    """One contract event type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    event_type: str

    @property
    def key(self) -> str:
        return f"{self.source}.{self.event_type}"


def resolve_event_type(text: Any) -> EventRef:
    """`event_type` (unique across the contract's sources) or `source.event_type`, checked; ValueError if not."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{text!r} is not an event type")
    text = text.strip()
    sources = {s.name: s.event_types for s in load_contract().event_sources}
    if "." in text:
        source, event_type = text.split(".", 1)
        if event_type not in sources.get(source, ()):
            raise ValueError(f"{text!r} is not a contract event type (source.event_type)")
        return EventRef(source=source, event_type=event_type)
    owners = [s for s, types in sources.items() if text in types]
    if len(owners) != 1:
        raise ValueError(f"{text!r} is not a contract event type" if not owners
                         else f"{text!r} is an event type of {', '.join(owners)}: write source.event_type")
    return EventRef(source=owners[0], event_type=text)


def parse_handoffs(raw: Any) -> tuple[EventRef, ...]:
    from stratify.config import ConfigError

    if raw is None:
        return tuple(resolve_event_type(t) for t in DEFAULT_HANDOFFS)
    if not isinstance(raw, list) or not raw:
        raise ConfigError("handoffs: must be a non-empty list of contract event types (event_type or "
                          "source.event_type)")
    refs, problems = [], []
    for i, item in enumerate(raw):
        try:
            refs.append(resolve_event_type(item))
        except ValueError as exc:
            problems.append(f"handoffs[{i}]: {exc}")
    if len({r.key for r in refs}) != len(refs):
        problems.append("handoffs: an event type is listed twice")
    if problems:
        raise ConfigError(problems=problems)
    return tuple(refs)


def parse_costs(base: Path, raw: Any) -> UnitCostTable:
    """The place's unit-cost table (`costs:` relative to `base`), or the default; checked whole."""
    from stratify.config import ConfigError
    from stratify.costs.default_table import DEFAULT_TABLE_PATH

    if raw is None:
        path = DEFAULT_TABLE_PATH
    elif isinstance(raw, str) and raw.strip():
        path = Path(raw)
        path = (path if path.is_absolute() else base / path).resolve()
    else:
        raise ConfigError("costs: must be a path to the place's unit-cost CSV (relative to the configuration "
                          "file's folder); leave it out to use the project's default table")
    try:
        return load_unit_costs(path)
    except UnitCostTableError as exc:
        raise ConfigError(problems=exc.problems) from None
