-- Load one validated outcomes delivery (the view `delivery`) into raw_outcomes.
-- Parameters: $delivery_id, $delivered_on.

UPDATE raw_outcomes AS o
SET superseded_on = $delivered_on, superseded_by = $delivery_id
FROM delivery AS d
WHERE o.record_id = d.record_id
  AND o.superseded_on IS NULL;

INSERT INTO raw_outcomes (record_id, person_id, team, event_date, outcome, delivery_id, delivered_on)
SELECT record_id, person_id, team, event_date, outcome, $delivery_id, $delivered_on
FROM delivery;
