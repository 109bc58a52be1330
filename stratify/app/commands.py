"""`stratify serve`, `stratify users add|list|disable|reset` and `stratify audit verify`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stratify.app.store import migrate, now_utc, open_db
from stratify.config import load_config


def _password(args: argparse.Namespace) -> str:
    if not args.password_stdin:
        raise SystemExit("stratify: give the password on standard input with --password-stdin "
                         "(never on the command line)")
    return sys.stdin.readline().rstrip("\r\n")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from stratify.app.web import create_app

    cfg = load_config(args.config)
    uvicorn.run(create_app(cfg), host=args.host, port=args.port, proxy_headers=True,
                forwarded_allow_ips=args.forwarded_allow_ips, log_level="info")
    return 0


def cmd_users(args: argparse.Namespace) -> int:
    from stratify.app import users

    cfg = load_config(args.config)
    migrate(cfg.app_database)
    with open_db(cfg.app_database) as con:
        try:
            if args.users_command == "add":
                u = users.add_user(con, args.user, args.role, args.team, _password(args), cfg.teams, now_utc())
                print(f"added {u.name} ({u.role}{', team ' + u.team if u.team else ''})")
            elif args.users_command == "list":
                for r in users.list_users(con):
                    state = "disabled" if r["disabled"] else ("locked until " + r["locked_until"]
                                                              if r["locked_until"] else "active")
                    print(f"{r['user_name']}\t{r['role']}\t{r['team'] or '-'}\t{state}")
            elif args.users_command == "disable":
                users.disable_user(con, args.user)
                print(f"disabled {args.user}; their sessions are ended")
            elif args.users_command == "demo":
                from stratify.app.demo_users import ensure_demo_users, write_passwords

                made, reset = ensure_demo_users(con, cfg, now_utc())
                path = write_passwords(Path(args.to), made, f"http://127.0.0.1:{args.port}/login")
                print(f"{len(made)} demo accounts ({len(made) - len(reset)} added, {len(reset)} reset with new "
                      f"passwords; others untouched); user names and passwords, owner-only: {path}")
            elif args.users_command == "reset":
                users.reset_user(con, args.user, _password(args))
                print(f"new password set for {args.user}; unlocked and enabled, sessions ended")
        except users.UserError as exc:
            print(f"stratify: {exc}", file=sys.stderr)
            return 2
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from stratify.app.audit import verify

    cfg = load_config(args.config)
    migrate(cfg.app_database)
    with open_db(cfg.app_database) as con:
        checked = verify(con)
    if checked.ok:
        print(f"audit chain intact: {checked.rows} rows in {cfg.app_database}")
        return 0
    print(f"stratify: audit chain broken at row {checked.broken_at}: {checked.why} ({cfg.app_database})",
          file=sys.stderr)
    return 1


def add_subcommands(sub) -> None:
    s = sub.add_parser("serve", help="the web app for team leads, IG officers and place leaders")
    s.add_argument("--config", required=True)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--forwarded-allow-ips", default="127.0.0.1",
                   help="proxies whose X-Forwarded-Proto is trusted (the cookie is Secure behind TLS)")
    s.set_defaults(func=cmd_serve)

    u = sub.add_parser("users", help="the web app's accounts")
    us = u.add_subparsers(dest="users_command", required=True)
    a = us.add_parser("add", help="add a user (password on standard input)")
    a.add_argument("--config", required=True)
    a.add_argument("--user", required=True)
    a.add_argument("--role", required=True, choices=("team_lead", "team_member", "place_lead", "ig_auditor",
                                                     "data_team"))
    a.add_argument("--team", default=None)
    a.add_argument("--password-stdin", action="store_true")
    ls = us.add_parser("list", help="list users")
    ls.add_argument("--config", required=True)
    d = us.add_parser("disable", help="refuse a user's log-ins and end their sessions")
    d.add_argument("--config", required=True)
    d.add_argument("--user", required=True)
    r = us.add_parser("reset", help="a new password (standard input); unlocks and enables")
    r.add_argument("--config", required=True)
    r.add_argument("--user", required=True)
    r.add_argument("--password-stdin", action="store_true")
    dm = us.add_parser("demo", help="a team lead per team, an IG auditor, a place lead and a data-team user, "
                                    "new passwords written owner-only to --to (run again: the same users reset)")
    dm.add_argument("--config", required=True)
    dm.add_argument("--to", required=True, help="the file the passwords go to (0o600), never the terminal")
    dm.add_argument("--port", type=int, default=8000, help="the port `stratify serve` will answer on, for the file")
    u.set_defaults(func=cmd_users)

    au = sub.add_parser("audit", help="the web app's audit log")
    aus = au.add_subparsers(dest="audit_command", required=True)
    v = aus.add_parser("verify", help="check the hash chain; non-zero naming the first broken row")
    v.add_argument("--config", required=True)
    au.set_defaults(func=cmd_audit)
