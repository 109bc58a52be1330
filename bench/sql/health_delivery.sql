-- A contract-valid health delivery of $rows rows for bench/bench_validate.py.
-- Grain: one row per event. Inputs: $rows, $people (pseudonyms cycle through the
-- register's people), $delivery_date (no event after it). Vectorised: range().
SELECT
    'H' || i AS record_id,
    sha256('p' || (i % $people)) AS person_id,
    CAST($delivery_date AS DATE) - CAST(1 + (i * 7919) % 3650 AS INTEGER) AS event_date,
    ['ae_attendance', 'emergency_admission', 'elective_admission', 'mental_health_referral',
     'mental_health_crisis', 'mental_health_detention', 'self_harm', 'overdose',
     'substance_treatment_start', 'substance_treatment_exit', 'gp_missed_appointment'][1 + CAST(i % 11 AS BIGINT)]
        AS event_type,
    CASE WHEN i % 11 IN (1, 2)
         THEN CAST($delivery_date AS DATE) - CAST(1 + (i * 7919) % 3650 AS INTEGER) + CAST(i % 5 AS INTEGER) END
        AS end_date,
    i % 997 = 0 AS deleted,
    CASE WHEN i % 7 = 0 THEN 'F1' || (i % 10) || '.' || (i % 9) END AS diagnosis_code,
    CASE WHEN i % 11 IN (1, 2) THEN CAST(i % 5 AS INTEGER) END AS length_of_stay_days
FROM range($rows) AS t(i)
