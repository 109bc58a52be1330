-- wrong_persons: the people a team recorded as `wrong_person` (the records joined under
-- the pseudonym are not one person: a linkage problem), while that is in force on $as_of:
-- until the data changes, i.e. a register row for the person delivered after the
-- outcome, or a later outcome of any kind for the person. The latest wrong_person of any
-- team counts. They are off every list (list_outcomes.sql) and left out of the model's
-- training sample (model_train_persons.sql).
-- Output: temp table wrong_persons. Grain: one row per person.
-- Inputs: raw_outcomes, raw_register. Parameters: $as_of.

CREATE OR REPLACE TEMP TABLE wrong_persons AS
WITH known AS (
    SELECT person_id, event_date, outcome, delivered_on, record_id
    FROM raw_outcomes
    WHERE delivered_on <= CAST($as_of AS DATE)
      AND (superseded_on IS NULL OR superseded_on > CAST($as_of AS DATE))
      AND event_date <= CAST($as_of AS DATE)
      AND outcome IS NOT NULL
),
wrong AS (
    SELECT person_id, event_date AS withdrawn_date, delivered_on
    FROM known
    WHERE outcome = 'wrong_person'
    QUALIFY row_number() OVER (PARTITION BY person_id ORDER BY event_date DESC, delivered_on DESC, record_id DESC) = 1
),
registered AS (
    SELECT r.person_id, max(r.delivered_on) AS changed_on
    FROM raw_register AS r
    SEMI JOIN wrong AS w ON r.person_id = w.person_id
    WHERE r.delivered_on <= CAST($as_of AS DATE)
    GROUP BY r.person_id
)
SELECT w.person_id, w.withdrawn_date
FROM wrong AS w
LEFT JOIN registered AS r USING (person_id)
WHERE coalesce(r.changed_on <= w.delivered_on, true)
  AND NOT EXISTS (SELECT 1 FROM known AS k WHERE k.person_id = w.person_id AND k.event_date > w.withdrawn_date);
