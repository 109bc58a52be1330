-- Validation findings as fields: what each check found on a delivery, so that a page renders its
-- words from the fields and suppresses every count as it renders it (stratify.validate.findings),
-- never by editing a finished sentence. Applied in file-name order by stratify.warehouse.migrate;
-- idempotent. Rows written before this file have NULLs here: pages show their detail as written.

ALTER TABLE validation_results ADD COLUMN IF NOT EXISTS rule VARCHAR;          -- the rule in words, value-free
ALTER TABLE validation_results ADD COLUMN IF NOT EXISTS checked_by VARCHAR;    -- gx | stratify | not_evaluated
ALTER TABLE validation_results ADD COLUMN IF NOT EXISTS failure VARCHAR;       -- what went wrong (stratify.validate.findings)
ALTER TABLE validation_results ADD COLUMN IF NOT EXISTS counted VARCHAR;       -- what the counts count: rows | pseudonyms
ALTER TABLE validation_results ADD COLUMN IF NOT EXISTS first_rows BIGINT[];   -- first failing data rows, 1-based
ALTER TABLE validation_results ADD COLUMN IF NOT EXISTS names VARCHAR[];       -- columns named (unknown, missing)
ALTER TABLE validation_results ADD COLUMN IF NOT EXISTS limit_share DOUBLE;    -- the key-mismatch limit
ALTER TABLE validation_results ADD COLUMN IF NOT EXISTS note VARCHAR;          -- value-free words without counts
