-- One year of a baseline, from 82_baseline_years.sql: baseline_person_costs
-- (every person of baseline_persons, the year's people, with the 12-month
-- columns of 20_person_costs.sql the baseline reads, rounded as there; people
-- with nothing in the year get zeros) and baseline_event_type_costs (the
-- columns of 60_event_type_costs.sql, every type of unit_costs).
-- Inputs: baseline_persons, baseline_year_people, baseline_year_types, unit_costs.
-- Parameters: $as_of, $year.

CREATE OR REPLACE TEMP TABLE baseline_person_costs AS
WITH a AS (SELECT * FROM baseline_year_people WHERE year = $year)
SELECT
    p.person_id,
    p.household_id,
    p.team,
    p.died,
    CAST($as_of AS DATE) AS as_of,
    round(coalesce(a.cost_12m, 0), 2) AS cost_12m_gbp,
    round(coalesce(a.cost_12m_health, 0), 2) AS cost_12m_health_gbp,
    round(coalesce(a.cost_12m_social_care, 0), 2) AS cost_12m_social_care_gbp,
    round(coalesce(a.cost_12m_housing, 0), 2) AS cost_12m_housing_gbp,
    round(coalesce(a.cost_12m_police, 0), 2) AS cost_12m_police_gbp,
    coalesce(a.events_12m, 0) AS events_12m,
    coalesce(a.events_12m_health, 0) AS events_12m_health,
    coalesce(a.events_12m_social_care, 0) AS events_12m_social_care,
    coalesce(a.events_12m_housing, 0) AS events_12m_housing,
    coalesce(a.events_12m_police, 0) AS events_12m_police,
    coalesce(a.handoffs_12m, 0) AS assessments_12m,
    coalesce(a.agencies_12m, 0) AS agencies_12m
FROM baseline_persons AS p
LEFT JOIN a ON a.person_key = p.person_key;

CREATE OR REPLACE TEMP TABLE baseline_event_type_costs AS
WITH t AS (SELECT * FROM baseline_year_types WHERE year = $year)
SELECT
    c.source,
    c.event_type,
    c.cost_gbp AS unit_cost_gbp,
    c.unit,
    coalesce(t.events_12m, 0) AS events_12m,
    coalesce(t.cost_12m_gbp, 0) AS cost_12m_gbp,
    coalesce(t.events_all, 0) AS events_all,
    coalesce(t.cost_all_gbp, 0) AS cost_all_gbp,
    coalesce(t.people_12m, 0) AS people_12m
FROM unit_costs AS c
LEFT JOIN t USING (type_key);
