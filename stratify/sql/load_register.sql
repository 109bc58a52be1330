-- Load one validated register delivery (the view `delivery`) into raw_register.
-- One row per person, latest wins: a new row supersedes the person's current
-- row and any current row with the same record_id; deleted = true retracts.
-- Parameters: $delivery_id, $delivered_on.

UPDATE raw_register AS r
SET superseded_on = $delivered_on, superseded_by = $delivery_id
FROM delivery AS d
WHERE (r.record_id = d.record_id OR (r.person_id = d.person_id AND NOT coalesce(d.deleted, false)))
  AND r.superseded_on IS NULL;

INSERT INTO raw_register (
    record_id, person_id, birth_year_month, sex, ethnic_group, lsoa21, household_id,
    date_of_death, opted_out, delivery_id, delivered_on
)
SELECT
    record_id, person_id, birth_year_month, sex, ethnic_group, lsoa21, household_id,
    date_of_death, coalesce(opted_out, false), $delivery_id, $delivered_on
FROM delivery
WHERE NOT coalesce(deleted, false);
