"""Names the configuration holds instead of secrets, and how a pasted secret is recognised without echoing it.

The configuration names where a secret is (an environment variable, an
Airflow variable or connection), never the secret itself. A name is checked
against a strict pattern, and a value that looks like a key (long and
random) is refused as such even when it happens to fit the pattern (an
upper-case base32 key is made of A-Z and 2-7). No message built here repeats
the value: a misplaced key would otherwise reach logs and `status.json`.
"""

from __future__ import annotations

import math
import re
from collections import Counter

ENV_NAME_RE = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
AIRFLOW_VARIABLE_RE = re.compile(r"[A-Za-z0-9_.-]{1,250}")
CONN_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,250}")
# Configuration keys that name a secret: refused wherever they appear, whatever their value.
KEY_LIKE_NAME_RE = re.compile(r"(^|_)(key|secret|password|passphrase|token)$|^encryption_key$", re.IGNORECASE)

LONGEST_WORD = 15  # a word of a real variable name ("PSEUDONYMISATION" is 16 letters and no key)


def _entropy(text: str) -> float:
    """Shannon entropy of `text` in bits per character."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def looks_like_key(value: object) -> bool:
    """Whether a text looks like a key or password rather than a name: long and random.

    A name is words joined by `_`, `.` or `-`. A key is one long run of
    mixed letters and digits (hex, base32, base64), or long and
    high-entropy, or carries base64's `+`, `/` or `=` padding.
    """
    if not isinstance(value, str):
        return False
    text = value.strip()
    if len(text) >= 40:
        return True
    if len(text) >= 16 and re.search(r"[+/=]", text):
        return True
    for word in re.split(r"[_.\-\s]+", text):
        digits = sum(c.isdigit() for c in word)
        if len(word) > LONGEST_WORD and (digits >= 2 or _entropy(word) >= 3.6):
            return True
        if len(word) >= 12 and digits >= 4 and any(c.isalpha() for c in word):
            return True
    return len(text) >= 24 and _entropy(text) >= 4.2


KEY_NOT_NAME = "this looks like a key, not a variable name (the value is not shown)"


def name_problem(value: object, kind: str) -> str | None:
    """Why `value` is not a good name of a `kind` ("env", "airflow_variable", "conn_id"), or None.

    The sentence never contains the value.
    """
    if not isinstance(value, str) or not value:
        return f"must be the NAME of {_what(kind)}, as text"
    if looks_like_key(value):
        return f"{KEY_NOT_NAME}: put the key itself in {_what(kind)} and write that variable's name here"
    pattern = {"env": ENV_NAME_RE, "airflow_variable": AIRFLOW_VARIABLE_RE, "conn_id": CONN_ID_RE}[kind]
    if not pattern.fullmatch(value):
        allowed = {"env": "A-Z, 0-9 and _, not starting with a digit, at most 128",
                   "airflow_variable": "letters, digits, _ . -, at most 250",
                   "conn_id": "letters, digits, _ . -, at most 250"}[kind]
        return f"must be the NAME of {_what(kind)} ({allowed} characters), never the secret itself"
    return None


def _what(kind: str) -> str:
    return {"env": "an environment variable", "airflow_variable": "an Airflow variable",
            "conn_id": "an Airflow connection"}[kind]


def shown(value: object, limit: int = 40) -> str:
    """A value as it may appear in an error: numbers and short plain text as they are, anything key-like hidden."""
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)
    if isinstance(value, str):
        if looks_like_key(value) or not value.isprintable():
            return "a value that is not shown (it looks like a key or holds invisible characters)"
        return repr(value if len(value) <= limit else value[:limit] + "...")
    return f"a {type(value).__name__}"
