-- App access: each row of the web app's audit log (SQLite at `app.database`) that a night copied into the warehouse.
-- Applied in file-name order by stratify.warehouse.migrate; idempotent.
-- Grain: one row per app audit row, keyed by its chain hash (`row_hash`: a row is copied once, whatever the night).
-- The same row also went into `access_log` (action `app.<action>`, reason its detail), where IG read it beside
-- exports and re-identifications; `prev_hash` keeps the app's chain checkable here.

CREATE TABLE IF NOT EXISTS app_access (
    row_hash    VARCHAR PRIMARY KEY,
    app_seq     BIGINT NOT NULL,
    prev_hash   VARCHAR NOT NULL,
    accessed_at TIMESTAMPTZ NOT NULL,
    user_name   VARCHAR,          -- NULL: not signed in
    role        VARCHAR,
    team        VARCHAR,
    action      VARCHAR NOT NULL,  -- the app's: view_list, view_person, record_outcome, login, ...
    target      VARCHAR NOT NULL,
    client      VARCHAR,
    allowed     BOOLEAN NOT NULL,
    detail      VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL   -- the night that copied it
);
