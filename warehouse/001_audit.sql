-- Audit trail: what each run read, decided, wrote, and who saw what.
-- Applied in file-name order by stratify.warehouse.migrate; every statement is idempotent.

CREATE TABLE IF NOT EXISTS schema_migrations (
    file_name   VARCHAR PRIMARY KEY,
    applied_at  TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

CREATE TABLE IF NOT EXISTS runs (
    run_id        VARCHAR PRIMARY KEY,
    place         VARCHAR NOT NULL,
    as_of         DATE NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    status        VARCHAR NOT NULL,      -- running | published | held | failed
    model_version VARCHAR,
    message       VARCHAR
);

CREATE SEQUENCE IF NOT EXISTS delivery_id_seq START 1;

-- One row per file seen in the landing zone.
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id   BIGINT PRIMARY KEY DEFAULT nextval('delivery_id_seq'),
    run_id        VARCHAR NOT NULL,
    source        VARCHAR,               -- NULL when the file name matches no source
    file_name     VARCHAR NOT NULL,
    sha256        VARCHAR NOT NULL,
    size_bytes    BIGINT NOT NULL,
    delivery_date DATE,
    delivery_seq  INTEGER,
    rows          BIGINT,
    received_at   TIMESTAMPTZ NOT NULL,
    decision      VARCHAR NOT NULL,      -- pending | accepted | accepted_with_warnings | refused | held | duplicate
    reason        VARCHAR,               -- plain text; never contains delivered values
    stored_path   VARCHAR,               -- archive (accepted) or quarantine (refused, held) path
    loaded_at     TIMESTAMPTZ
);

-- One row per expectation evaluated on a delivery.
CREATE TABLE IF NOT EXISTS validation_results (
    run_id           VARCHAR NOT NULL,
    delivery_id      BIGINT NOT NULL,
    expectation      VARCHAR NOT NULL,
    column_name      VARCHAR,
    severity         VARCHAR NOT NULL,   -- critical | warning
    success          BOOLEAN NOT NULL,
    element_count    BIGINT,
    unexpected_count BIGINT,
    detail           VARCHAR             -- rule text, row numbers, closed-list codes only
);

CREATE TABLE IF NOT EXISTS publications (
    run_id       VARCHAR NOT NULL,
    team         VARCHAR,
    path         VARCHAR NOT NULL,       -- relative to the run folder
    rows         BIGINT,
    sha256       VARCHAR NOT NULL,
    published_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS access_log (
    accessed_at TIMESTAMPTZ NOT NULL,
    user_name  VARCHAR NOT NULL,
    action     VARCHAR NOT NULL,         -- e.g. export_list, reidentify
    target     VARCHAR,
    reason     VARCHAR,
    n_people   BIGINT
);

CREATE TABLE IF NOT EXISTS models (
    model_version  VARCHAR PRIMARY KEY,
    trained_at     TIMESTAMPTZ NOT NULL,
    as_of          DATE NOT NULL,
    data_from      DATE NOT NULL,
    data_to        DATE NOT NULL,
    horizon_months INTEGER NOT NULL,
    algorithm      VARCHAR NOT NULL,
    path           VARCHAR NOT NULL,
    metrics_json   VARCHAR NOT NULL,
    promoted       BOOLEAN NOT NULL
);
