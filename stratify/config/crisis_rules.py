"""Crisis rules as the configuration states them: id, feature, comparison, threshold and reason template.

A rule's id is `[a-z0-9_]+` (it names the rule in lists, summaries and
counts). Its reason is a template that quotes features by name only:
`{health_ae_attendance_90d} A&E attendances in 90 days`. Only plain fields
are allowed: no format specification (`{x:>5000}` would build a
5,000-character reason per person), no conversion (`{x!r}`), no attribute
or index (`{x.real}`, `{x[0]}`); `{{` and `}}` write a brace. Whether each
named feature exists is checked against the feature table's columns when
the whole configuration is loaded (`stratify.config.features`).
"""

from __future__ import annotations

import math
import re
import string
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, Strict
from pydantic.dataclasses import dataclass

RULE_OPS = (">=", ">", "<=", "<", "==")
RULE_ID_RE = re.compile(r"[a-z0-9_]{1,64}")
FEATURE_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")
MAX_TEXT = 300  # a description or reason template, in characters

SECTION = ConfigDict(extra="forbid")


def template_fields(template: str) -> set[str]:
    """The feature names a (checked) reason template quotes."""
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


def check_template(template: str) -> str:
    """A reason template with plain `{feature}` fields only; the ValueError says what is wrong."""
    _printable(template)
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"not a template ({exc}); write a brace as {{{{ or }}}}") from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if not FEATURE_RE.fullmatch(name):
            raise ValueError("fields must be plain feature names like {health_ae_attendance_90d} "
                             "(no attributes, indexes or empty {})")
        if spec or conversion:
            raise ValueError(f"{{{name}}} must be quoted plainly: no format specification (':...') or "
                             "conversion ('!r'); the value is written as the feature table holds it")
    return template


def _printable(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    if not text.isprintable():
        raise ValueError("must be one line of printable text (no newlines or invisible characters)")
    return text


def _finite(x: float) -> float:
    if not math.isfinite(x):
        raise ValueError("must be a finite number")
    return x


def _rule_id(text: str) -> str:
    if not RULE_ID_RE.fullmatch(text):
        raise ValueError("a rule id is 1-64 of a-z, 0-9 and _")
    return text


def _feature(text: str) -> str:
    if not FEATURE_RE.fullmatch(text):
        raise ValueError("is not a feature name (a-z, 0-9 and _, starting with a letter)")
    return text


Text = Annotated[str, Strict(), Field(max_length=MAX_TEXT), AfterValidator(_printable)]


@dataclass(frozen=True, config=SECTION)
class CrisisRule:
    """A transparent crisis rule: `feature op threshold`, with a plain-English reason.

    `reason` is a template filled from the person's features, e.g.
    "{health_ae_attendance_90d} A&E attendances in 90 days".
    """

    id: Annotated[str, Strict(), AfterValidator(_rule_id)]
    description: Text
    feature: Annotated[str, Strict(), AfterValidator(_feature)]
    op: Literal[">=", ">", "<=", "<", "=="]
    threshold: Annotated[float, Strict(), AfterValidator(_finite)]
    reason: Annotated[str, Strict(), Field(max_length=MAX_TEXT), AfterValidator(check_template)]

    @property
    def quoted(self) -> set[str]:
        """Every feature the rule tests or quotes."""
        return {self.feature} | template_fields(self.reason)


DEFAULT_RULES: tuple[CrisisRule, ...] = (
    CrisisRule(
        "smd_3plus",
        "Three or more domains of severe and multiple disadvantage active in the last 12 months",
        "smd_domains_365d", ">=", 3,
        "{smd_domains_365d} disadvantage domains active in 12 months ({smd_domain_names_365d})",
    ),
    CrisisRule(
        "high_intensity_ae",
        "High-intensity use of A&E: five or more attendances in 90 days",
        "health_ae_attendance_90d", ">=", 5,
        "{health_ae_attendance_90d} A&E attendances in 90 days",
    ),
    CrisisRule(
        "high_intensity_police",
        "High-intensity police contact: six or more contacts in 90 days",
        "police_events_90d", ">=", 6,
        "{police_events_90d} police contacts in 90 days",
    ),
    CrisisRule(
        "high_intensity_homelessness",
        "Repeated homelessness: three or more homelessness events in 90 days",
        "smd_homelessness_events_90d", ">=", 3,
        "{smd_homelessness_events_90d} homelessness events in 90 days",
    ),
)


def rule_problems(rules: tuple[CrisisRule, ...], numeric: set[str], quotable: set[str]) -> list[str]:
    """Duplicate ids and features the feature table will not have, one sentence each (`rules[i]...` first)."""
    problems, seen = [], {}
    for i, r in enumerate(rules):
        if r.id in seen:
            problems.append(f"rules[{i}].id: {r.id!r} is also the id of rules[{seen[r.id]}]; rule ids must be unique")
        seen.setdefault(r.id, i)
        if r.feature not in numeric:
            why = "is not a numeric feature" if r.feature in quotable else "is not a feature"
            problems.append(f"rules[{i}].feature: {r.feature!r} {why} of feat_person; see docs/features.md "
                            "for the names")
        unknown = template_fields(r.reason) - quotable
        if unknown:
            problems.append(f"rules[{i}].reason: unknown feature(s) {', '.join(sorted(unknown))}; see "
                            "docs/features.md for the names")
    return problems
