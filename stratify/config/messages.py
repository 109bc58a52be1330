"""pydantic's validation errors as the configuration's own sentences: dotted key first, no secret echoed.

`problems(exc)` turns a ValidationError into one sentence per bad key:
`model.horizon_months: must be at least 1, got -3`; unknown and missing
keys of one mapping are grouped into one sentence each. A value is quoted
only when it is a number or short plain text that does not look like a key
(`names.shown`), and never from the `encryption` and `drops` sections.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError

from stratify.config.names import KEY_LIKE_NAME_RE, looks_like_key, shown

NEVER_SHOWN = ("encryption", "drops")
KINDS = {"int": "int", "float": "float", "bool": "true or false", "string": "text", "dict": "a mapping",
         "list": "a list", "tuple": "a list"}
BOUNDS = {"greater_than_equal": ("ge", "at least"), "greater_than": ("gt", "above"),
          "less_than_equal": ("le", "at most"), "less_than": ("lt", "below")}
SECRET_KEY = ("keys and secrets must never be in the configuration file; for the warehouse key use "
              "encryption.key_env (an environment variable's name) or encryption.airflow_variable; for the "
              "identity provider's client secret app.oidc.client_secret_env or app.oidc.client_secret_file")


def dotted(loc: Sequence[Any]) -> str:
    """('rules', 0, 'op') -> 'rules[0].op'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _key_name(name: Any) -> str:
    text = str(name)
    return "(a key name that looks like a secret, not shown)" if looks_like_key(text) or not text.isprintable() else text


def problems(exc: ValidationError, prefix: Sequence[Any] = (), known: dict[str, Iterable[str]] | None = None) -> list[str]:
    """One sentence per bad key of `exc`, each starting with its dotted path (under `prefix`).

    `known` maps a dotted mapping path ('' for the top level) to its allowed
    keys, named in the sentence about unknown keys.
    """
    found: list[str] = []
    unknown: dict[str, list[str]] = {}
    missing: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False):
        loc = tuple(prefix) + tuple(p for p in err["loc"] if p not in ("function-after", "function-before"))
        kind = err["type"]
        if kind in ("extra_forbidden", "unexpected_keyword_argument"):
            unknown.setdefault(dotted(loc[:-1]), []).append(str(loc[-1]))
        elif kind in ("missing", "missing_argument"):
            missing.setdefault(dotted(loc[:-1]), []).append(str(loc[-1]))
        else:
            found.append(f"{dotted(loc)}: {_sentence(err, loc)}")
    for where, names in unknown.items():
        found[:0] = _unknown(where, names, (known or {}).get(where, ()))
    for where, names in missing.items():
        if where:
            found.append(f"{where}: missing key(s) {', '.join(sorted(names))}")
        else:
            found += [f"{n}: required" for n in sorted(names)]
    return found


def _unknown(where: str, names: list[str], known: Iterable[str]) -> list[str]:
    """Unknown keys of one mapping: a secret-like name gets its own sentence; the rest one sentence."""
    out, plain = [], []
    for name in sorted(names):
        if KEY_LIKE_NAME_RE.search(name):
            out.append(f"{(where + '.') if where else ''}{_key_name(name)}: unknown key: {SECRET_KEY}")
        else:
            plain.append(_key_name(name))
    known_text = f"; known: {', '.join(sorted(known))}" if known else ""
    if plain and where:
        out.append(f"{where}: unknown key(s) {', '.join(plain)}{known_text}")
    elif plain:
        out.append(f"{', '.join(plain)}: unknown key(s){known_text}")
    return out


def _sentence(err: dict, loc: Sequence[Any]) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    secret = bool(loc) and str(loc[0]) in NEVER_SHOWN
    got = "" if secret else f", got {shown(value)}"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"]))
    base = kind.split("_")[0]
    if kind.endswith(("_type", "_parsing")) and base in KINDS:
        return f"expected {KINDS[base]}{got}"
    if kind == "int_from_float":
        return f"expected a whole number{got}"
    if kind in BOUNDS:
        key, words = BOUNDS[kind]
        return f"must be {words} {ctx.get(key)}{got}"
    if kind == "literal_error":
        return f"{'the value' if secret else shown(value)} is not one of {ctx.get('expected')}"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "finite_number":
        return "must be a finite number"
    if kind.startswith("dataclass"):
        return "must be a mapping"
    return err["msg"] + ("" if secret else f" ({shown(value)})")
