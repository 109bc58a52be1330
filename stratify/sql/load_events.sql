-- Load one validated event delivery (registered as the view `delivery`) into raw_events.
-- Re-delivered record_ids supersede their current version (a correction);
-- rows with deleted = true supersede and insert nothing (a retraction).
-- Parameters: $source, $delivery_id, $delivered_on.

UPDATE raw_events AS e
SET superseded_on = $delivered_on, superseded_by = $delivery_id
FROM delivery AS d
WHERE e.source = $source
  AND e.record_id = d.record_id
  AND e.superseded_on IS NULL;

INSERT INTO raw_events (
    source, record_id, person_id, event_date, event_type, end_date, diagnosis_code,
    length_of_stay_days, role, household_id, amount_gbp, delivery_id, delivered_on
)
SELECT
    $source, record_id, person_id, event_date, event_type, end_date, diagnosis_code,
    length_of_stay_days, role, household_id, amount_gbp, $delivery_id, $delivered_on
FROM delivery
WHERE NOT coalesce(deleted, false);
