"""The app load benchmark's figures from the driver's samples, and the report beside issue 19's targets."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

TARGET_P95_MS = 200.0  # issue 19: list and person pages, 95th percentile
TARGET_ERRORS = 0
PAGES = {"list": ("list", "list (filtered)"), "person": ("person",)}
KINDS = ("login form", "login", "list", "list (filtered)", "person")
PAGE_KINDS = PAGES["list"] + PAGES["person"]
SLACK_S = 0.05  # `latest` is polled every 20 ms: pages this close to the switch are not judged
BUCKET_S = 10


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile (q in 0..1) of the values; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def latency(samples: list[dict]) -> dict[str, Any]:
    ms = [s["ms"] for s in samples]
    return {"requests": len(ms), "errors": sum(not s["ok"] for s in samples),
            "p50_ms": percentile(ms, 0.50), "p95_ms": percentile(ms, 0.95), "p99_ms": percentile(ms, 0.99),
            "max_ms": max(ms) if ms else None, "mean_ms": round(sum(ms) / len(ms), 2) if ms else None}


def check_runs(samples: list[dict], runs: dict[str, str]) -> None:
    """A list page that names a run no published run folder holds, or another run's data date, is an error."""
    for s in samples:
        if s.get("run_id") is None or not s["ok"]:
            continue
        if s["run_id"] not in runs:
            s["ok"], s["why"] = False, "names a run that is not a published run folder"
        elif runs[s["run_id"]] != s["as_of"]:
            s["ok"], s["why"] = False, "mixes two runs (a run's id with another run's data date)"


def gone_with_the_switch(samples: list[dict], new_run: str | None) -> int:
    """Person pages of 404 whose link came from a list of an older run: the person is not on tonight's page.

    A correct answer, not an error (someone in the already-working section,
    say, whose outcome aged out of it): such samples are marked ok. Each
    user's link comes from the last list page that user had back before
    asking for the person.
    """
    if new_run is None:
        return 0
    events = sorted([(s["start"] + s["ms"] / 1000, 0, i) for i, s in enumerate(samples) if s.get("run_id")]
                    + [(s["start"], 1, i) for i, s in enumerate(samples) if s["kind"] == "person"])
    last: dict[str, str] = {}
    gone = 0
    for _, kind, i in events:
        s = samples[i]
        if kind == 0:
            last[s["user"]] = s["run_id"]
        elif s["status"] == 404 and last.get(s["user"]) not in (None, new_run):
            s["ok"], s["why"], gone = True, "", gone + 1
    return gone


def figures_from(driven: dict[str, Any], runs: dict[str, str], run_before: str | None, new_run: str | None,
                 switch_at: float | None, load_t0: float, load_t1: float) -> dict[str, Any]:
    """Throughput, latency per page kind, errors and whether pages followed the new run."""
    samples = driven["samples"]
    check_runs(samples, runs)
    gone = gone_with_the_switch(samples, new_run)
    t0, seconds = driven["started"], driven["seconds"]
    errors = [s for s in samples if not s["ok"]]
    signed_in = max((s["start"] + s["ms"] / 1000 for s in samples if s["kind"] == "login"), default=t0)
    figures: dict[str, Any] = {
        "load_seconds": round(seconds, 2), "requests": len(samples),
        "requests_per_s": round(len(samples) / seconds, 2) if seconds else 0.0,
        "errors": len(errors), "errors_by_reason": dict(Counter(f"{s['kind']}: {s['why']}" for s in errors)),
        "pages": {name: latency([s for s in samples if s["kind"] in kinds]) for name, kinds in PAGES.items()},
        "by_kind": {k: latency([s for s in samples if s["kind"] == k]) for k in KINDS},
        "signed_in": sum(s["kind"] == "login" and s["ok"] for s in samples),
        # once everyone has signed in (argon2 log-ins at the start compete with the first pages)
        "all_signed_in_at_s": round(signed_in - t0, 2),
        "pages_after_sign_in": {name: latency([s for s in samples if s["kind"] in kinds and s["start"] > signed_in])
                                for name, kinds in PAGES.items()},
        "locust": driven["locust"],
        "timeline": [{"from_s": b * BUCKET_S, **_brief(latency(group))}  # list and person pages
                     for b, group in _buckets([s for s in samples if s["kind"] in PAGE_KINDS], t0)],
    }
    lists = [s for s in samples if s.get("run_id")]
    publish: dict[str, Any] = {"run_before": run_before, "run_after": new_run, "person_gone_404": gone,
                               "published_during_load": switch_at is not None and load_t0 <= switch_at <= load_t1,
                               "switch_at_s": round(switch_at - t0, 2) if switch_at else None}
    if switch_at is not None:
        after = [s for s in lists if s["start"] > switch_at + SLACK_S]
        # pages answered before the switch must show the old run; pages in flight across it may show either
        before = [s for s in lists if s["start"] + s["ms"] / 1000 < switch_at - SLACK_S]
        stale = [s for s in after if s["run_id"] != new_run]
        first_new = min((s["start"] for s in after if s["ok"] and s["run_id"] == new_run), default=None)
        # once a page showed the new run, no page asked for later may show the old one
        went_back = [s for s in stale if first_new is not None and s["start"] > first_new + SLACK_S]
        publish.update({
            "list_pages_before": len(before), "list_pages_after": len(after),
            "before_showing_old_run": sum(s["run_id"] == run_before for s in before),
            "after_showing_new_run": len(after) - len(stale),
            "after_showing_old_run": len(stale),
            "new_run_shown_after_s": round(first_new - switch_at, 3) if first_new is not None else None,
            "old_run_after_new": len(went_back),
            "followed": first_new is not None and not went_back and all(s["run_id"] == run_before for s in before),
            "pages_mixing_runs": sum("mixes" in s["why"] for s in samples),
            "around_switch": latency([s for s in samples if s["kind"] in PAGE_KINDS
                                      and switch_at - 1 <= s["start"] <= switch_at + 5]),
        })
    figures["publish"] = publish
    return figures


def _brief(f: dict[str, Any]) -> dict[str, Any]:
    return {k: f[k] for k in ("requests", "errors", "p50_ms", "p95_ms")}


def _buckets(samples: list[dict], t0: float) -> list[tuple[int, list[dict]]]:
    groups: dict[int, list[dict]] = {}
    for s in samples:
        groups.setdefault(int((s["start"] - t0) // BUCKET_S), []).append(s)
    return sorted(groups.items())


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def report_app(f: dict[str, Any]) -> str:
    """The figures as text, beside the targets (figures, not assertions)."""
    m = f["machine"]
    lines = [f"stratify bench app: {f['people']:,} people, {f['users']} signed-in users for {f['seconds']:g} s "
             f"(think {f['think_s'][0]:g}-{f['think_s'][1]:g} s between pages), one server process "
             f"(pid {f['server'].get('pid')}, port {f['server'].get('port')}), commit {f.get('commit')}",
             f"machine: {m['cpus']} CPUs, load average {m['load_average_at_start']} at start, "
             f"{m.get('load_average_at_end')} at end",
             "", f"{f['requests']:,} requests in {f['load_seconds']:.1f} s: {f['requests_per_s']:.1f} requests/s; "
             f"{f['signed_in']} users signed in", "",
             f"{'page':<16} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"]
    for name, row in [*f["pages"].items(), *[(f"  {k}", v) for k, v in f["by_kind"].items()]]:
        lines.append(f"{name:<16} {row['requests']:>9,} {row['errors']:>7,} {_ms(row['p50_ms']):>8} "
                     f"{_ms(row['p95_ms']):>8} {_ms(row['p99_ms']):>8} {_ms(row['max_ms']):>8}")
    lines.append("")
    for name in PAGES:
        p95, after = f["pages"][name]["p95_ms"], f["pages_after_sign_in"][name]
        met = p95 is not None and p95 < TARGET_P95_MS
        lines.append(f"{name} pages p95 {_ms(p95)} ms (target < {TARGET_P95_MS:.0f} ms: {'met' if met else 'NOT met'}); "
                     f"after everyone signed in ({f['all_signed_in_at_s']:.1f} s): p50 {_ms(after['p50_ms'])} "
                     f"p95 {_ms(after['p95_ms'])} p99 {_ms(after['p99_ms'])} ms over {after['requests']:,} pages")
    lines.append(f"errors {f['errors']:,} (target {TARGET_ERRORS}: {'met' if f['errors'] == TARGET_ERRORS else 'NOT met'})"
                 + "".join(f"\n  {n} x {why}" for why, n in sorted(f["errors_by_reason"].items(), key=lambda x: -x[1])))
    n, p = f["night"], f["publish"]
    if f.get("night_at_s") is None:
        lines.append("night: none (--no-night)")
    elif n.get("started_s") is None:
        lines.append("night: not started (the load ended first)")
    else:
        lines.append(f"night (stratify run, as of {f['night_as_of']}): started at {n['started_s']:+.1f} s, "
                     f"exit {n['exit']}, {n['seconds']} s" + "".join(f"\n  {t}" for t in n.get("log_tail", [])))
    if p.get("switch_at_s") is None:
        lines.append("publish: no new run was published")
    else:
        shown = p["new_run_shown_after_s"]
        lines.append(f"publish: {p['run_before']} -> {p['run_after']} at {p['switch_at_s']:.1f} s, "
                     f"{'during' if p['published_during_load'] else 'NOT during'} the load")
        lines.append(f"  list pages: before the switch {p['before_showing_old_run']} of {p['list_pages_before']} "
                     f"showed the old run; after it {p['after_showing_new_run']} the new, "
                     f"{p['after_showing_old_run']} the old; the new run first shown "
                     f"{'-' if shown is None else f'{shown:.2f}'} s after the switch; old after new "
                     f"{p['old_run_after_new']}; pages mixing two runs {p['pages_mixing_runs']}; "
                     f"followed: {'yes' if p['followed'] else 'NO'}")
        lines.append(f"  person pages from a link of the old run's list whose person is not on the new run's page "
                     f"(404, not counted as errors): {p['person_gone_404']}")
        a = p["around_switch"]
        lines.append(f"  pages from 1 s before to 5 s after the switch: {a['requests']} requests, "
                     f"p95 {_ms(a['p95_ms'])} ms, max {_ms(a['max_ms'])} ms, {a['errors']} errors")
    lines.append("list and person pages every 10 s: " + "; ".join(f"{b['from_s']}s {b['requests']} req p95 {_ms(b['p95_ms'])}"
                                            for b in f["timeline"]))
    lines.append(f"server: {f['server'].get('tracebacks', 0)} tracebacks in its log; stopped (exit "
                 f"{f['server'].get('exit')})")
    return "\n".join(lines)
