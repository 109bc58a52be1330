-- Load one validated register delivery (the view `delivery`) into raw_register.
-- One row per person, latest wins: a new row supersedes the person's current
-- row and any current row with the same record_id; deleted = true retracts.
-- The two matches are IN lists (hash lookups), not one join on
-- `record_id = ... OR person_id = ...`, which DuckDB can only run as a nested
-- loop: a 3,148-row correction against 330,000 registered people took 64 s.
-- Parameters: $delivery_id, $delivered_on.

UPDATE raw_register AS r
SET superseded_on = $delivered_on, superseded_by = $delivery_id
WHERE r.superseded_on IS NULL
  AND (r.record_id IN (SELECT record_id FROM delivery)
       OR r.person_id IN (SELECT person_id FROM delivery WHERE NOT coalesce(deleted, false)));

INSERT INTO raw_register (
    record_id, person_id, birth_year_month, sex, ethnic_group, lsoa21, household_id,
    date_of_death, opted_out, delivery_id, delivered_on
)
SELECT
    record_id, person_id, birth_year_month, sex, ethnic_group, lsoa21, household_id,
    date_of_death, coalesce(opted_out, false), $delivery_id, $delivered_on
FROM delivery
WHERE NOT coalesce(deleted, false);
