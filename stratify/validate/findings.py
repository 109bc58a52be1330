"""What each check found on a delivery, kept as fields: rule, column, how many, out of how many, first rows.

A `Finding` is one row of `validation_results`. Its words are made from its
fields by one function (`detail_text`, `reason_text`, `delivery_reason`)
given a `CountWords` that says how a count is written: `ExactCounts` here
(the warehouse's detail, the quarantine note and the stage summary, for the
data team), or the publish stage's suppressing one for the pages. So a count
reaches a page only through a suppressing formatter, never out of a finished
sentence.

`counted` says what `count` and `out_of` count: `rows` of the delivery, or
distinct person_id `pseudonyms` (people). A delivery's rows, and the rows
of it that broke a rule, are facts about a file (the Data Docs give them
exactly): `exact` counts. Pseudonyms and rows holding an NHS number are
counts of people: a page suppresses them. `checked_by` says who ran the check:
`gx` (Great Expectations: in the Data Docs), `stratify` (the reader, the
direct-identifier guard, the key-mismatch check: not in the Data Docs) or
`not_evaluated` (left out of GX's run because its column is missing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

MAX_MESSAGES = 8  # failures named in one delivery's reason
MAX_ROWS_SHOWN = 5  # first failing row numbers kept in a finding

# what went wrong (Finding.failure)
ROWS = "rows"                      # count of out_of rows broke the rule
ERRORED = "errored"                # GX raised while computing the check: a failure
UNKNOWN_COLUMNS = "unknown_columns"
COLUMN_SET = "column_set"          # the column set differs only by a missing required column
MISSING_COLUMN = "missing_column"
NO_ROWS = "no_rows"
NOT_EVALUATED = "not_evaluated"
UNREADABLE = "unreadable"
IDENTIFIER_NAME = "identifier_name"
NHS_NUMBERS = "nhs_numbers"
NO_REGISTER = "no_register"
KEY_MISMATCH = "key_mismatch"
IDENTIFIER_FAILURES = (IDENTIFIER_NAME, NHS_NUMBERS)


class CountWords(Protocol):
    """How counts are written: exactly (for the data team) or suppressed (on pages)."""

    def count(self, n: int | None, exact: bool = False) -> str:
        """A count; `exact` marks a count of a delivery's rows, never a count of people."""

    def share(self, n: int, total: int) -> str:
        """` (3%)` beside `n of total`, or nothing where a percentage would give a suppressed count back."""

    def rows(self, first_rows: tuple[int, ...], n: int | None, exact: bool = True) -> str:
        """The data rows where a rule failed: the first few, or (not `exact`) only the first, since the length
        of a short list would give a suppressed count back."""


class ExactCounts:
    """Counts as they are: for the warehouse, the quarantine note and the data team's logs."""

    def count(self, n: int | None, exact: bool = False) -> str:
        return "some" if n is None else str(n)

    def share(self, n: int, total: int) -> str:
        return f" ({n / total:.0%})" if total else ""

    def rows(self, first_rows: tuple[int, ...], n: int | None, exact: bool = True) -> str:
        if not first_rows:
            return ""
        more = ", ..." if (n or len(first_rows)) > len(first_rows) else ""
        return f"data row{'s' if len(first_rows) != 1 or more else ''} {', '.join(map(str, first_rows))}{more}"


EXACT = ExactCounts()


@dataclass(frozen=True)
class Finding:
    """One check of one delivery, as fields (one `validation_results` row)."""

    check: str                        # expectation id, or stratify.read / .data_minimisation / .key_mismatch
    column: str | None
    severity: str                     # critical | warning
    success: bool
    rule: str                         # the rule in words, value-free
    checked_by: str = "gx"            # gx | stratify | not_evaluated
    failure: str | None = None        # what went wrong (the constants above); None when it passed, except
                                      # KEY_MISMATCH, which the key check always carries with its figures
    count: int | None = None          # rows (or pseudonyms) that broke the rule
    out_of: int | None = None         # of how many
    counted: str = "rows"             # rows | pseudonyms
    first_rows: tuple[int, ...] = ()  # first failing data rows (1-based)
    names: tuple[str, ...] = ()       # columns named: not in the contract, missing, identifier kinds
    limit_share: float | None = None  # the key-mismatch limit
    note: str | None = None           # value-free words without counts (a read error, an identifier kind)

    @property
    def out_of_is_delivery_rows(self) -> bool:
        return self.counted == "rows"

    @property
    def count_is_of_rows(self) -> bool:
        """True when `count` counts rows of the delivery (shown exactly), not people (suppressed)."""
        return self.counted == "rows" and self.failure != NHS_NUMBERS


def _n_of_m(f: Finding, words: CountWords) -> str:
    unit = "rows" if f.counted == "rows" else "distinct person_id pseudonyms"
    if f.count is None:
        return f"some {unit}"
    return (f"{words.count(f.count, exact=f.count_is_of_rows)} of "
            f"{words.count(f.out_of, exact=f.out_of_is_delivery_rows)} {unit}")


def detail_text(f: Finding, words: CountWords = EXACT) -> str:
    """What the check says and what it found: the `detail` of its results row."""
    if f.failure == KEY_MISMATCH:  # passed or not, the check's figures are its detail
        return _key_mismatch_words(f, words)
    if f.success or f.failure is None:
        return f.rule
    if f.failure == ROWS:
        where = words.rows(f.first_rows, f.count, exact=f.count_is_of_rows)
        return f"{f.rule} - failed in {_n_of_m(f, words)}" + (f" ({where})" if where else "")
    if f.failure == ERRORED:
        return f"{f.rule} - could not be evaluated (GX error); treated as a failure"
    if f.failure == UNKNOWN_COLUMNS:
        return f"{f.rule} - columns not in the contract: {', '.join(f.names)}"
    if f.failure == COLUMN_SET:
        return f"{f.rule} - a required column is missing"
    if f.failure == MISSING_COLUMN:
        return f"{f.rule} - the column is missing"
    if f.failure == NOT_EVALUATED:
        return f"{f.rule} - not evaluated: column {', '.join(f.names)} is missing"
    if f.failure in IDENTIFIER_FAILURES:
        return "data minimisation: " + _identifier_words(f, words)
    return f.note or f.rule  # UNREADABLE, NO_REGISTER, NO_ROWS: words without counts


def _identifier_words(f: Finding, words: CountWords) -> str:
    if f.failure == IDENTIFIER_NAME:
        return f"column {f.column} is named like a direct identifier ({f.note})"
    where = words.rows(f.first_rows, f.count, exact=False)
    return f"column {f.column} holds {words.count(f.count)} valid NHS number(s)" + (f" ({where})" if where else "")


def _key_mismatch_words(f: Finding, words: CountWords) -> str:
    share = words.share(f.count or 0, f.out_of or 0)
    limit = f"; limit {f.limit_share:.0%}" if f.limit_share is not None else ""
    return f"{_n_of_m(f, words)}{share} match no registered person{limit}"


def reason_text(f: Finding, words: CountWords = EXACT) -> str | None:
    """What this failure adds to the delivery's reason; None if another finding says it (or it passed)."""
    if f.success or f.failure in (None, COLUMN_SET, NOT_EVALUATED):
        return None
    if f.failure == ROWS:
        return f"{f.column}: {detail_text(f, words)} [{f.check}]"
    if f.failure == ERRORED:
        return f"{f.column or 'table'}: {f.rule} could not be evaluated"
    if f.failure == UNKNOWN_COLUMNS:
        return (f"column(s) {', '.join(f.names)} are not in the contract for this source "
                "(data minimisation: deliver only the contract's columns)")
    if f.failure == MISSING_COLUMN:
        return f"required column {f.column} is missing"
    if f.failure == NO_ROWS:
        return "the delivery has no data rows"
    if f.failure in IDENTIFIER_FAILURES:
        return _identifier_words(f, words)
    if f.failure == KEY_MISMATCH:
        return (f"key mismatch: {_key_mismatch_words(f, words)}. The pseudonymisation key may have changed "
                "upstream; check with the trusted third party before releasing it")
    return f.note or f.rule


def _joined(messages: list[str]) -> str:
    more = f"; and {len(messages) - MAX_MESSAGES} more" if len(messages) > MAX_MESSAGES else ""
    return "; ".join(messages[:MAX_MESSAGES]) + more


def decision_words(decision: str, findings: list[Finding], words: CountWords = EXACT) -> str | None:
    """Why a delivery got its decision, from its findings (without the file name); None when accepted cleanly."""
    failing = [f for f in findings if not f.success]
    if decision in ("refused", "held"):
        failing = [f for f in failing if f.severity == "critical"]
    elif decision == "accepted_with_warnings":
        failing = [f for f in failing if f.severity != "critical"]
    else:
        return None
    identifiers = [_identifier_words(f, words) for f in failing if f.failure in IDENTIFIER_FAILURES]
    if identifiers:
        return ("data minimisation: " + "; ".join(identifiers) + ". No extract may carry a direct identifier; "
                "the whole delivery is refused")
    messages = [m for m in (reason_text(f, words) for f in failing) if m]
    return _joined(messages) if messages else None


def delivery_reason(file_name: str, decision: str, findings: list[Finding], words: CountWords = EXACT) -> str | None:
    """The delivery's reason as `deliveries.reason` and the quarantine note carry it: `<file>: refused: ...`."""
    why = decision_words(decision, findings, words)
    if why is None:
        return None
    verb = {"refused": "refused", "held": "held", "accepted_with_warnings": "loaded with warnings"}[decision]
    return f"{file_name}: {verb}: {why}"
