-- costed_events (temporary), for a baseline: every event of a person in
-- baseline_known dated on or before $as_of (the baseline's latest year), as
-- known from deliveries on or before $known_at (current, non-deleted rows, as
-- 10_costed_events.sql reads them), with its unit cost and what its stay needs
-- to be priced as of any earlier date: one read of raw_events for all the
-- baseline's years. 82_baseline_years.sql prices it year by year; the
-- priorities (50_person_priorities.sql) read it as they read the nightly one.
-- unit_cost is 0 for a social care parent_carer row (the child's row carries
-- it); stay_end_known is end_date, else event_date + length_of_stay_days, else
-- the person's death, else NULL (open to the as-of date).
-- Grain: one row per (person, event). Inputs: raw_events, baseline_known, unit_costs.
-- Parameters: $as_of, $known_at.

SET disabled_optimizers = 'build_side_probe_side';

CREATE OR REPLACE TEMP TABLE costed_events AS
WITH events AS (
    SELECT
        p.rowid AS person_key,
        p.birth_year_month,
        e.source,
        e.event_type,
        e.event_date,
        e.role,
        e.diagnosis_code,
        coalesce(e.end_date, e.event_date + e.length_of_stay_days, p.date_of_death) AS stay_end_known
    FROM raw_events AS e
    JOIN baseline_known AS p ON e.person_id = p.person_id
    WHERE e.delivered_on <= CAST($known_at AS DATE)
      AND (e.superseded_on IS NULL OR e.superseded_on > CAST($known_at AS DATE))
      AND e.event_date <= CAST($as_of AS DATE)
)
SELECT
    ev.person_key,
    ev.birth_year_month,
    c.type_key,
    c.agency_key,
    ev.event_date,
    ev.role,
    ev.diagnosis_code,
    c.is_handoff,
    c.unit <> 'per_event' AS is_stay,
    CASE WHEN ev.source = 'social_care' AND ev.role = 'parent_carer' THEN 0.0 ELSE c.cost_gbp END AS unit_cost,
    CASE c.unit WHEN 'per_week' THEN 7.0 ELSE 1.0 END AS unit_days,
    ev.stay_end_known
FROM events AS ev
JOIN unit_costs AS c ON c.source = ev.source AND c.event_type = ev.event_type;

RESET disabled_optimizers;
