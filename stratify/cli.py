"""The `stratify` command: the same pipeline as the Airflow DAGs, from a shell.

Every command takes `--config FILE` (the place configuration). Errors are
printed as one plain sentence saying what is wrong and what to do, with a
non-zero exit status: stratify's own errors (`stratify.errors`) carry both
the action and the status (2 for a configuration error, 3 when a run held
publication, 4 when another run is active, 1 otherwise); `--debug` shows
the traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path
from types import SimpleNamespace

from stratify.config import ConfigError, load_config
from stratify.errors import StratifyError


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from None


def cmd_synth(args: argparse.Namespace) -> int:
    from stratify.synth.generate import synthesize

    cfg = load_config(args.config)
    if args.world == "stepwise":  # the second world (stratify/worlds/): mechanics the model was not tuned on
        from stratify.worlds.generate import synthesize_stepwise

        world = synthesize_stepwise(cfg, people=args.people, as_of=args.as_of, years=args.years, seed=args.seed,
                                    future_days=args.future_days)
        print("\n".join(world.lines()))
        return 0
    summary = synthesize(cfg, people=args.people, as_of=args.as_of, years=args.years, seed=args.seed)
    print(summary.format())
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from stratify.errors import RunLocked
    from stratify.run.pipeline import run_pipeline
    from stratify.run.status import explain_failure

    cfg = load_config(args.config)
    t0 = time.perf_counter()
    try:
        result = run_pipeline(cfg, args.as_of)
    except RunLocked as exc:  # refused at once: nothing was touched
        print(f"stratify: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        if args.debug:
            raise
        message, action = explain_failure(cfg, exc, (read_status_stage(cfg) or "run"))
        print(f"stratify: run failed: {message}\nWhat to do: {action}\nStatus: {cfg.out / 'status.json'}",
              file=sys.stderr)
        return exc.exit_code if isinstance(exc, StratifyError) else 1
    result["total_seconds"] = round(time.perf_counter() - t0, 3)
    print(json.dumps(result, indent=2, default=str))
    if result["status"] == "published":
        print(f"\nLists: {cfg.out / 'latest' / 'lists'}\nManifest: {cfg.out / 'latest' / 'manifest.json'}")
        return 0
    print(f"\nNothing published: {result.get('message')}", file=sys.stderr)
    return 3


def read_status_stage(cfg) -> str | None:
    """The stage the status file says the run was in (where it failed)."""
    from stratify.run.status import read_status

    return (read_status(cfg) or {}).get("stage")


def cmd_train(args: argparse.Namespace) -> int:
    from stratify.model.train import NoHistoryYet, train_model

    cfg = load_config(args.config)
    try:
        result = train_model(cfg, args.as_of, answer_key=args.answer_key)
    except NoHistoryYet as exc:  # like a configuration error: nothing ran, the user must act first
        print(f"stratify: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, default=str))
    print(f"\nModel card: {result['model_card']}")
    return 0


def cmd_expectations(args: argparse.Namespace) -> int:
    from stratify.validate.suites import check_suites, write_suites

    if args.check:
        problems = check_suites()
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    for path in write_suites():
        print(path)
    return 0


def cmd_reidentify(args: argparse.Namespace) -> int:
    from stratify.access.reidentify import reidentify

    cfg = load_config(args.config)
    r = reidentify(cfg, args.list, args.lookup, args.user, args.reason, args.to)
    print(f"re-identified {r['matched']} of {r['people_on_list']} people on the list "
          f"({r['not_matched']} not in the lookup); written owner-only to {r['output']}; logged in access_log")
    return 0


def cmd_export_list(args: argparse.Namespace) -> int:
    from stratify.access.reidentify import export_list

    cfg = load_config(args.config)
    r = export_list(cfg, args.team, args.user, args.reason, args.to)
    print(f"exported team {r['team']}'s list ({r['people']} people, run {r['run_id']}) owner-only to "
          f"{r['output']}, with what the list is and is not in {r['about']}; logged in access_log")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from stratify.app.notes import purge_app_notes
    from stratify.retention import purge

    cfg = load_config(args.config)
    summary = purge(cfg, dry_run=args.dry_run)
    summary["app_notes"] = purge_app_notes(cfg, dry_run=args.dry_run)  # the web app's notes past their retention
    print(json.dumps(summary, indent=2, default=str))
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from stratify.baseline.page import write_baseline

    cfg = load_config(args.config)
    for path in write_baseline(cfg, args.as_of, args.out or cfg.out / "baseline" / args.as_of.isoformat()):
        print(path)
    return 0


def cmd_bench_wobbling(args: argparse.Namespace) -> int:
    from stratify.bench.wobbling import main as wobbling_main

    return wobbling_main(args.rest)


def cmd_bench(args: argparse.Namespace) -> int:
    from stratify.bench import run_from_args

    return run_from_args(args)


def _access_arguments(p: argparse.ArgumentParser) -> None:
    """--user, --reason and --to, shared by the audited commands."""
    p.add_argument("--user", required=True, help="your name, for the access log")
    p.add_argument("--reason", required=True, help="why, in a few words, for the access log")
    p.add_argument("--to", required=True, help="a new file outside the pipeline's folders (created owner-only)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stratify", description=__doc__.splitlines()[0])
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="write a synthetic place's deliveries into the landing folder")
    s.add_argument("--config", required=True)
    s.add_argument("--people", type=int, required=True)
    s.add_argument("--as-of", type=_date, required=True)
    s.add_argument("--years", type=int, default=3)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--world", choices=("stratify", "stepwise"), default="stratify",
                   help="stratify: the generator the model was built on; stepwise: a second world on other mechanics")
    s.add_argument("--future-days", type=int, default=0,
                   help="stepwise only: also write the world this many days past --as-of to <landing>/../future "
                        "(for benchmarks; never delivered)")
    s.set_defaults(func=cmd_synth)

    r = sub.add_parser("run", help="run the nightly pipeline once, without Airflow")
    r.add_argument("--config", required=True)
    r.add_argument("--as-of", type=_date, required=True)
    r.set_defaults(func=cmd_run)

    t = sub.add_parser("train", help="train, evaluate and register a wobbling model")
    t.add_argument("--config", required=True)
    t.add_argument("--as-of", type=_date, required=True)
    t.add_argument("--answer-key", type=Path, default=None,
                   help="synthetic places only: the generator's answer key, to report the best any model could do")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("expectations", help="write the GX suites in expectations/ from the contract")
    e.add_argument("--check", action="store_true", help="only check that the files match the contract")
    e.set_defaults(func=cmd_expectations)

    ri = sub.add_parser("reidentify", help="data controller: the lookup's rows for the people on a list (audited)")
    ri.add_argument("--config", required=True)
    ri.add_argument("--list", required=True, help="a published list, or any CSV with a person_id column")
    ri.add_argument("--lookup", required=True, help="the data controller's CSV: person_id and identifying columns")
    _access_arguments(ri)
    ri.set_defaults(func=cmd_reidentify)

    x = sub.add_parser("export-list", help="copy a team's published list out of the pipeline (audited)")
    x.add_argument("--config", required=True)
    x.add_argument("--team", required=True)
    _access_arguments(x)
    x.set_defaults(func=cmd_export_list)

    pg = sub.add_parser("purge", help="remove runs, archived and quarantined files, and the app's notes, past their retention")
    pg.add_argument("--config", required=True)
    pg.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    pg.set_defaults(func=cmd_purge)

    bl = sub.add_parser("baseline", help="the place's baseline for leaders: baseline.html and baseline.json")
    bl.add_argument("--config", required=True)
    bl.add_argument("--as-of", type=_date, required=True)
    bl.add_argument("--out", type=Path, default=None, help="folder to write into (default <out>/baseline/<as-of>/)")
    bl.set_defaults(func=cmd_baseline)

    from stratify.bench import add_arguments as bench_arguments  # standard library only at import

    b = sub.add_parser("bench", help="time a first load and a typical night per stage, beside a read floor")
    bench_arguments(b)
    b.set_defaults(func=cmd_bench)

    w = sub.add_parser("bench-wobbling", add_help=False,
                       help="precision of each team's first 10 and 25 wobbling people, per world and size "
                            "(stratify, the heuristic, the answer key, triage): --help for its options")
    w.add_argument("rest", nargs=argparse.REMAINDER)
    w.set_defaults(func=cmd_bench_wobbling)

    from stratify.app.commands import add_subcommands as app_subcommands  # serve, users, audit

    app_subcommands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench-wobbling"]:  # its own options (stratify.bench.wobbling), --help included
        return cmd_bench_wobbling(argparse.Namespace(rest=argv[1:]))
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"stratify: configuration error: {exc}", file=sys.stderr)
        return exc.exit_code
    except StratifyError as exc:
        if args.debug:
            raise
        where = SimpleNamespace(path=getattr(args, "config", None))
        print(f"stratify: {type(exc).__name__}: {exc}\nWhat to do: {exc.action_for(where)}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        if args.debug:
            raise
        print(f"stratify: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
