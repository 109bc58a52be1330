-- train_persons: the people whose monthly snapshots the wobbling model trains
-- on, a deterministic sample of at most $n from persons (same seed, same
-- sample). Grain: one row per person. Inputs: persons. Parameters: $seed, $n.

CREATE OR REPLACE TEMP TABLE train_persons AS
SELECT *
FROM persons
ORDER BY hash(person_id || $seed)
LIMIT $n;
