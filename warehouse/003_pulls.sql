-- Pulls: every file seen at an agency's drop location (drops: in the place configuration),
-- and what the pull stage did with it. Applied in file-name order by stratify.warehouse.migrate;
-- idempotent. Never holds a credential: `location` is the configured location, which the
-- configuration refuses if it carries a user or password.

CREATE TABLE IF NOT EXISTS pulls (
    run_id            VARCHAR NOT NULL,
    source            VARCHAR NOT NULL,
    location          VARCHAR NOT NULL,   -- local folder, sftp://host[:port]/path or s3://bucket/prefix
    remote_path       VARCHAR,            -- the file at the drop; NULL when the drop could not be listed
    size_bytes        BIGINT,
    remote_mtime      TIMESTAMPTZ,        -- as the drop reported it, when it does
    sha256            VARCHAR,            -- of the bytes copied; NULL when nothing was copied
    pulled_at         TIMESTAMPTZ NOT NULL,
    landing_path      VARCHAR,            -- where the copy was put (outcome pulled)
    outcome           VARCHAR NOT NULL,   -- pulled | already_pulled | skipped_in_flight | skipped_no_marker
                                          -- | refused_name_clash | failed | unreachable
    deleted_at_source BOOLEAN NOT NULL DEFAULT false,
    detail            VARCHAR             -- plain text: why skipped, refused or failed; never a secret
);
