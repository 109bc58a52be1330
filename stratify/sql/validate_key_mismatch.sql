-- validate_key_mismatch: how many distinct pseudonyms of the delivery being
-- validated match no registered person, neither in the warehouse's current
-- register nor in a register accepted earlier in this run.
-- Grain: one row (distinct_ids, unmatched_ids).
-- Inputs: stratify_work.delivery, stratify_work.run_register_ids, raw_register.

WITH delivered AS (
    SELECT DISTINCT person_id FROM stratify_work.delivery WHERE person_id IS NOT NULL
),
registered AS (
    SELECT person_id FROM raw_register WHERE superseded_on IS NULL
    UNION
    SELECT person_id FROM stratify_work.run_register_ids
)
SELECT
    count(*) AS distinct_ids,
    count(*) FILTER (WHERE r.person_id IS NULL) AS unmatched_ids
FROM delivered AS d
LEFT JOIN registered AS r ON r.person_id = d.person_id;
