"""Precision of each ranking's first k wobbling people per team, and the benchmark's table."""

from __future__ import annotations

import pandas as pd


def precision(picked: dict[str, list[str]], met: set[str]) -> tuple[float | None, int]:
    """Pooled over teams: the share of the picked people who met a crisis rule within six months, and how many."""
    people = [p for team in picked.values() for p in team]
    if not people:
        return None, 0
    return sum(p in met for p in people) / len(people), len(people)


def table(rows: list[dict]) -> str:
    """One line per (world, people, ranking): P@10 and P@25 per team, the people they count, seconds."""
    head = f"{'world':<9} {'people':>8} {'ranking':<17} {'P@10/team':>10} {'P@25/team':>10} {'picked':>11} {'seconds':>9}"
    lines = [head, "-" * len(head)]
    for r in rows:
        def pct(v: float | None) -> str:
            return "   n/a" if v is None else f"{100 * v:5.1f}%"
        seconds = "" if r["seconds"] is None else f"{r['seconds']:.0f}"
        lines.append(f"{r['world']:<9} {r['people']:>8,} {r['ranking']:<17} {pct(r['p10']):>10} {pct(r['p25']):>10} "
                     f"{r['n10']:>5}/{r['n25']:<5} {seconds:>9}")
    return "\n".join(lines)


def positives_note(truth: pd.DataFrame, cands: pd.DataFrame) -> str:
    met = truth.index[truth["first_month"] > 0]
    share = cands["person_id"].isin(met).mean() if len(cands) else float("nan")
    return (f"candidates {len(cands):,} (not in crisis on the as-of date); {int(cands['person_id'].isin(met).sum()):,} "
            f"of them ({100 * share:.2f}%) met a crisis rule within six months")
