"""The web app team leads, IG officers and place leaders use every morning (`stratify serve`).

Server-rendered pages (FastAPI, Jinja2 with autoescape, no JavaScript) over
the published run only (`stratify.run.context.published_run`, resolved once
per request); the warehouse is never opened for writing. The app's own state
(users, sessions, recorded outcomes, the hash-chained audit log) lives in
SQLite in WAL mode at `app.database`.

- `store`: the SQLite database and its schema (sql/schema.sql);
- `users`: accounts, roles, argon2id passwords, lock-out;
- `sessions`: signed session cookies, idle expiry, anti-forgery tokens;
- `audit`: the append-only, sha256-chained log of every view and refusal;
- `published`: what the published run shows a team (files checked against `publications`);
- `teamlist`: a team's list and a person's page (filters, households, the published timelines);
- `outcomes`: recording a review and writing it as a contract `outcomes` delivery;
- `notes`: a review's note kept only for `app.note_retention_days`, then removed;
- `web`: the routes; `pages`: rendering; `security`: headers and access rules;
- `oidc`: signing in through the place's OpenID Connect provider (`app.oidc`, Authlib);
  `oidc_accounts`: its claims as role and team, and the accounts linked to its subjects;
- `demo_users`: the demo place's accounts (`stratify users demo`, run by `make demo`);
- `commands`: the `serve`, `users` and `audit` subcommands.
"""
