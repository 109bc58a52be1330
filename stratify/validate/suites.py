"""The Great Expectations suites: generated from the contract, versioned in `expectations/`, checked against it.

`build_suites` makes one GX suite per contract source; `write_suites` writes
them to `expectations/<source>.json` (stable, sorted: `stratify expectations`);
`check_suites` lists where the versioned files differ from the contract, and
`load_suite_dicts` refuses to run on suites that have drifted. The suites
check the work table (`stratify.validate.workspace`): a delivery's text
columns plus the companions parsed from them (`companion_columns`).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import great_expectations as gx
from great_expectations.expectations.row_conditions import Column as GXColumn

from stratify.contract import Column, Source, load_contract
from stratify.resources import EXPECTATIONS_DIR

GENERATED_BY = "stratify.validate.suites.write_suites (do not edit: generated from stratify/contract.yaml)"


class SuiteDriftError(RuntimeError):
    """The versioned suites in expectations/ do not match the contract."""


# --------------------------------------------------------------------------- suites


def ymd(d: date) -> int:
    return d.year * 10000 + d.month * 100 + d.day


def _bound(value: Any, contract) -> Any:
    """A date bound of the contract as a yyyymmdd integer, or a suite parameter."""
    if value == "delivery_date":
        return {"$PARAMETER": "delivery_date_yyyymmdd"}
    if value == "min_event_date":
        return ymd(contract.min_event_date)
    if isinstance(value, date):
        return ymd(value)
    return value


def _suite_spec(source: Source) -> list[tuple[str, Any]]:
    """(id, Expectation) pairs for one source, in a fixed order."""
    contract = load_contract()
    types = contract.types
    src = source.name
    out: list[tuple[str, Any]] = []
    E = gx.expectations

    def add(eid: str, exp_cls, rule: str, for_column: str | None, severity: str = "critical", **kwargs):
        meta = {"id": f"{src}.{eid}", "rule": rule, "column": for_column, "contract_version": contract.version}
        out.append((f"{src}.{eid}", exp_cls(severity=severity, meta=meta, **kwargs)))

    add("table.row_count", E.ExpectTableRowCountToBeBetween, "the delivery has at least one data row", None, min_value=1)
    add("table.columns", E.ExpectTableColumnsToMatchSet,
        f"only the contract's {src} columns are delivered (data minimisation) and every required one is there",
        None, column_set=sorted(frame_columns(source)), exact_match=True)
    for c in source.columns:
        n = c.name
        if c.required:
            add(f"{n}.exists", E.ExpectColumnToExist, f"required column {n} is present", n, column=n)
            add(f"{n}.not_null", E.ExpectColumnValuesToNotBeNull, f"{n} is required (no empty values)", n, column=n)
        if c.pattern:
            add(f"{n}.pattern", E.ExpectColumnValuesToMatchRegex,
                f"{n} matches the contract pattern `{c.pattern_name}` ({c.pattern})", n, column=n, regex=c.pattern)
        if c.codes is not None:
            add(f"{n}.codes", E.ExpectColumnValuesToBeInSet,
                f"{n} is one of the {src} codes of contract v{contract.version}", n, column=n, value_set=list(c.codes))
        if c.codes_from_config:
            add(f"{n}.codes", E.ExpectColumnValuesToBeInSet,
                f"{n} is one of the place's configured neighbourhood teams", n, column=n,
                value_set={"$PARAMETER": "teams"})
        text_pattern = types.get(c.type, {}).get("text_pattern")
        if text_pattern:
            article = "an" if c.type[0] in "aeiou" else "a"
            form = {"date": "YYYY-MM-DD", "boolean": "true/false", "integer": "a whole number",
                    "decimal": "a decimal number"}[c.type]
            add(f"{n}.text_form", E.ExpectColumnValuesToMatchRegex, f"{n} is {article} {c.type} written as {form}", n,
                column=n, regex=text_pattern)
        if c.type == "date":
            add(f"{n}.calendar_date", E.ExpectColumnValuesToBeInSet, f"{n} is a real calendar date", n,
                column=f"{n}__calendar", value_set=[True])
            if c.min is not None or c.max is not None:
                lo = _bound(c.min, contract) if c.min is not None else None
                hi = _bound(c.max, contract) if c.max is not None else None
                words = []
                if c.min is not None:
                    words.append(f"not before {contract.min_event_date.isoformat() if c.min == 'min_event_date' else c.min}")
                if c.max is not None:
                    words.append("not after the delivery date" if c.max == "delivery_date" else f"not after {c.max}")
                add(f"{n}.date_range", E.ExpectColumnValuesToBeBetween, f"{n} is {' and '.join(words)}", n,
                    column=f"{n}__yyyymmdd", min_value=lo, max_value=hi)
        if c.not_before:
            add(f"{n}.not_before_{c.not_before}", E.ExpectColumnPairValuesAToBeGreaterThanB,
                f"{n} is not before {c.not_before}", n, column_A=f"{n}__yyyymmdd",
                column_B=f"{c.not_before}__yyyymmdd", or_equal=True, ignore_row_if="either_value_is_missing")
        if c.type in ("integer", "decimal") and (c.min is not None or c.max is not None):
            add(f"{n}.range", E.ExpectColumnValuesToBeBetween, f"{n} is between {c.min} and {c.max}", n,
                column=f"{n}__number", min_value=c.min, max_value=c.max)
        if c.age_range:
            add(f"{n}.age_range", E.ExpectColumnValuesToBeBetween,
                f"{n} gives an age of {c.age_range[0]} to {c.age_range[1]} at the delivery date", n,
                column=f"{n}__age_years", min_value=c.age_range[0], max_value=c.age_range[1])
        if c.unique:
            add(f"{n}.unique", E.ExpectColumnValuesToBeUnique, f"{n} is unique within the delivery", n, column=n)
        if c.only_for_event_types:
            add(f"{n}.only_for_event_types", E.ExpectColumnValuesToBeNull,
                f"{n} is given only on event types {', '.join(c.only_for_event_types)}", n, severity="warning",
                column=n, row_condition=GXColumn(name="event_type").is_not_in(list(c.only_for_event_types)))
    return out


def companion_columns(c: Column) -> list[str]:
    """The columns the work table parses from `c` for the suites: `<name>__calendar`, `__yyyymmdd`, `__number`, `__age_years`."""
    out = []
    if c.type == "date":
        out += [f"{c.name}__calendar", f"{c.name}__yyyymmdd"]
    if c.type in ("integer", "decimal"):
        out.append(f"{c.name}__number")
    if c.age_range:
        out.append(f"{c.name}__age_years")
    return out


DERIVED_WORDS = {"__calendar": "true when {column} is a real calendar date",
                 "__yyyymmdd": "{column} as a number yyyymmdd, for comparing dates",
                 "__number": "{column} as a number",
                 "__age_years": "the age in whole years at the delivery date, from {column}"}


def derived_columns() -> dict[str, dict[str, str]]:
    """Every companion column of every source: name -> the delivered column it comes from and what it holds.

    For the Data Docs, so IG staff never read a column stratify computed as if it had been delivered.
    """
    out = {}
    for source in load_contract().sources.values():
        for c in source.columns:
            for name in companion_columns(c):
                words = DERIVED_WORDS[name[len(c.name):]].format(column=c.name)
                out[name] = {"from": c.name, "words": words}
    return out


def frame_columns(source: Source) -> list[str]:
    """Every column of a source's work table: the contract's, then each one's companions."""
    cols = list(source.column_names)
    for c in source.columns:
        cols += companion_columns(c)
    return cols


def build_suites() -> dict[str, gx.ExpectationSuite]:
    """One GX suite per source, generated from the contract."""
    contract = load_contract()
    suites = {}
    for name, source in contract.sources.items():
        suites[name] = gx.ExpectationSuite(
            name=name, meta={"contract_version": contract.version},
            expectations=[exp for _, exp in _suite_spec(source)])
    return suites


def _suite_dict(suite: gx.ExpectationSuite) -> dict:
    """A stable JSON form of a suite: no ids, no GX version, sorted keys."""
    d = suite.to_json_dict()
    exps = []
    for e in d["expectations"]:
        e = {k: v for k, v in e.items() if k not in ("id", "rendered_content", "notes") or v}
        e.pop("id", None)
        exps.append(e)
    return json.loads(json.dumps({
        "name": d["name"],
        "meta": {"contract_version": load_contract().version,
                 "generated_by": GENERATED_BY,
                 "suite_parameters": {"delivery_date_yyyymmdd": "the date in the file name, as an integer yyyymmdd",
                                      "teams": "the place's configured neighbourhood teams"}},
        "expectations": exps,
    }, sort_keys=True, default=str))


def _render(d: dict) -> str:
    return json.dumps(d, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_suites(directory: Path = EXPECTATIONS_DIR) -> list[Path]:
    """Write one `<source>.json` per source (stable, sorted, pretty)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, suite in build_suites().items():
        p = directory / f"{name}.json"
        text = _render(_suite_dict(suite))
        if not p.exists() or p.read_text(encoding="utf-8") != text:
            p.write_text(text, encoding="utf-8")
        paths.append(p)
    return paths


def check_suites(directory: Path = EXPECTATIONS_DIR) -> list[str]:
    """Differences between the versioned suite files and the contract; empty when they agree."""
    directory = Path(directory)
    diffs = []
    expected = {n: _suite_dict(s) for n, s in build_suites().items()}
    present = {p.stem for p in directory.glob("*.json")} if directory.exists() else set()
    for extra in sorted(present - set(expected)):
        diffs.append(f"{extra}.json: suite for a source that is not in the contract")
    for name, want in expected.items():
        p = directory / f"{name}.json"
        if not p.exists():
            diffs.append(f"{name}.json: missing")
            continue
        try:
            have = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            diffs.append(f"{name}.json: not valid JSON ({exc})")
            continue
        if have == want:
            continue
        h = {e.get("meta", {}).get("id"): e for e in have.get("expectations", [])}
        w = {e["meta"]["id"]: e for e in want["expectations"]}
        for eid in sorted(set(w) - set(h), key=str):
            diffs.append(f"{name}.json: expectation {eid} is missing")
        for eid in sorted(set(h) - set(w), key=str):
            diffs.append(f"{name}.json: expectation {eid} is not in the contract")
        for eid in sorted(set(h) & set(w), key=str):
            if h[eid] != w[eid]:
                diffs.append(f"{name}.json: expectation {eid} differs from the contract")
        if [e.get("meta", {}).get("id") for e in have.get("expectations", [])] != list(w) and not any(
                d.startswith(f"{name}.json: expectation") for d in diffs):
            diffs.append(f"{name}.json: expectations are out of order")
        if {k: v for k, v in have.items() if k != "expectations"} != {k: v for k, v in want.items() if k != "expectations"}:
            diffs.append(f"{name}.json: suite name or meta differs")
    return diffs


def load_suite_dicts(directory: Path = EXPECTATIONS_DIR) -> dict[str, dict]:
    """The versioned suites, refusing to run if they have drifted from the contract."""
    diffs = check_suites(directory)
    if diffs:
        raise SuiteDriftError(
            "the suites in expectations/ do not match the contract (run `stratify expectations` and commit): "
            + "; ".join(diffs[:5])
        )
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(Path(directory).glob("*.json"))}
