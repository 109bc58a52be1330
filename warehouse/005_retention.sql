-- Retention: one row per file or folder that `stratify purge` (or the weekly retention DAG) removed.
-- Applied in file-name order by stratify.warehouse.migrate; idempotent.
-- The rows that describe what was removed (runs, deliveries, publications) stay: the audit trail
-- outlives the files. A dry run removes nothing and writes nothing here.

CREATE TABLE IF NOT EXISTS purges (
    purged_at  TIMESTAMPTZ NOT NULL,
    kind       VARCHAR NOT NULL,      -- run | staging | archive | quarantine
    path       VARCHAR NOT NULL,      -- absolute path of the removed file or folder
    age_days   INTEGER NOT NULL,      -- its age when removed (see stratify.retention for how each kind is aged)
    bytes      BIGINT NOT NULL,       -- total size removed (a folder: every file in it)
    reason     VARCHAR NOT NULL       -- plain text: which retention rule, e.g. 'retention.runs_days = 400'
);
