-- output: the web app's own state in SQLite (WAL): users, sessions, reviews (recorded outcomes), delivery
--         sequence numbers, and the hash-chained audit log of every page view and refusal
-- grain:  users one row per user name; sessions one per signed-in browser; reviews one per recorded outcome;
--         audit one per request that showed or refused something (append-only: triggers refuse UPDATE/DELETE)
-- inputs: `stratify users ...` and the app's requests; nothing from the warehouse
CREATE TABLE IF NOT EXISTS users (
    user_name     TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('team_lead', 'team_member', 'place_lead', 'ig_auditor', 'data_team')),
    team          TEXT,
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  TEXT,
    created_at    TEXT NOT NULL,
    CHECK ((role IN ('team_lead', 'team_member')) = (team IS NOT NULL))
);

CREATE TABLE IF NOT EXISTS sessions (
    session_id  TEXT PRIMARY KEY,
    user_name   TEXT NOT NULL REFERENCES users (user_name),
    csrf_token  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    last_seen   TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS reviews (
    review_id    INTEGER PRIMARY KEY,
    record_id    TEXT NOT NULL UNIQUE,
    person_id    TEXT NOT NULL,
    team         TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    event_date   TEXT NOT NULL,
    key_worker   TEXT,
    note         TEXT,
    reviewed_by  TEXT NOT NULL,
    reviewed_at  TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    delivery     TEXT
);
CREATE INDEX IF NOT EXISTS reviews_person ON reviews (team, person_id);

CREATE TABLE IF NOT EXISTS delivery_seq (
    delivery_date TEXT PRIMARY KEY,
    last_seq      INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS audit (
    seq         INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    user_name   TEXT,
    role        TEXT,
    team        TEXT,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    client      TEXT,
    allowed     INTEGER NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',
    prev_hash   TEXT NOT NULL,
    row_hash    TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

CREATE TABLE IF NOT EXISTS app_secret (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key TEXT NOT NULL
);
