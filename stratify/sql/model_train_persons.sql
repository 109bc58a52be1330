-- train_persons: the people whose monthly snapshots the wobbling model trains
-- on, a deterministic sample of whole households holding at most $n people
-- from persons (same seed, same sample). Whole households, because the
-- household features count a person's housemates among the people built:
-- sampling people one by one would undercount them against the nightly run,
-- which counts over everyone. A person with no household is a household of one.
-- Grain: one row per person. Inputs: persons. Parameters: $seed, $n.

CREATE OR REPLACE TEMP TABLE train_persons AS
WITH households AS (
    SELECT coalesce(household_id, 'person:' || person_id) AS unit, count(*) AS people
    FROM persons
    GROUP BY ALL
),
ranked AS (
    SELECT unit, sum(people) OVER (ORDER BY hash(unit || $seed), unit ROWS UNBOUNDED PRECEDING) AS upto
    FROM households
)
SELECT p.*
FROM persons AS p
JOIN ranked AS r ON r.unit = coalesce(p.household_id, 'person:' || p.person_id)
WHERE r.upto <= $n;
