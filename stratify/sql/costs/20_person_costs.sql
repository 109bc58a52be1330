-- {{target}}: each person's estimated public cost at the unit-cost table's
-- prices, in the 365 days ending on $as_of (cost_12m_*), the 365 days before
-- them (cost_prev_12m_gbp, for the trend) and over all the
-- history the warehouse holds (cost_all_*), in total and by agency (the event
-- source that recorded the interaction); their interactions, agencies and
-- handoffs (assessments, referrals, front-door contacts) in the same windows.
-- Pounds rounded to two decimals per person. People with no events get zeros.
-- Grain: one row per person in {{persons}}. Inputs: {{persons}}, costed_events
-- (agency_key 0 health, 1 social_care, 2 housing, 3 police). Conditional sums
-- and counts are CASE expressions, one plain pass (see features/build.py on FILTER).
-- Parameters: $as_of.

CREATE OR REPLACE {{table_kind}} TABLE {{target}} AS
WITH per_person AS (
    SELECT
        person_key,
        sum(cost_12m) AS cost_12m,
        sum(CASE WHEN agency_key = 0 THEN cost_12m END) AS cost_12m_health,
        sum(CASE WHEN agency_key = 1 THEN cost_12m END) AS cost_12m_social_care,
        sum(CASE WHEN agency_key = 2 THEN cost_12m END) AS cost_12m_housing,
        sum(CASE WHEN agency_key = 3 THEN cost_12m END) AS cost_12m_police,
        sum(cost_prev_12m) AS cost_prev_12m,
        sum(cost_all) AS cost_all,
        sum(CASE WHEN agency_key = 0 THEN cost_all END) AS cost_all_health,
        sum(CASE WHEN agency_key = 1 THEN cost_all END) AS cost_all_social_care,
        sum(CASE WHEN agency_key = 2 THEN cost_all END) AS cost_all_housing,
        sum(CASE WHEN agency_key = 3 THEN cost_all END) AS cost_all_police,
        count(CASE WHEN in_12m THEN 1 END) AS events_12m,
        count(CASE WHEN in_12m AND agency_key = 0 THEN 1 END) AS events_12m_health,
        count(CASE WHEN in_12m AND agency_key = 1 THEN 1 END) AS events_12m_social_care,
        count(CASE WHEN in_12m AND agency_key = 2 THEN 1 END) AS events_12m_housing,
        count(CASE WHEN in_12m AND agency_key = 3 THEN 1 END) AS events_12m_police,
        count(*) AS events_all,
        count(CASE WHEN agency_key = 0 THEN 1 END) AS events_all_health,
        count(CASE WHEN agency_key = 1 THEN 1 END) AS events_all_social_care,
        count(CASE WHEN agency_key = 2 THEN 1 END) AS events_all_housing,
        count(CASE WHEN agency_key = 3 THEN 1 END) AS events_all_police,
        count(CASE WHEN in_12m AND is_handoff THEN 1 END) AS handoffs_12m,
        count(CASE WHEN is_handoff THEN 1 END) AS handoffs_all,
        CAST(count(CASE WHEN in_12m AND agency_key = 0 THEN 1 END) > 0 AS INTEGER)
          + CAST(count(CASE WHEN in_12m AND agency_key = 1 THEN 1 END) > 0 AS INTEGER)
          + CAST(count(CASE WHEN in_12m AND agency_key = 2 THEN 1 END) > 0 AS INTEGER)
          + CAST(count(CASE WHEN in_12m AND agency_key = 3 THEN 1 END) > 0 AS INTEGER) AS agencies_12m,
        CAST(count(CASE WHEN agency_key = 0 THEN 1 END) > 0 AS INTEGER)
          + CAST(count(CASE WHEN agency_key = 1 THEN 1 END) > 0 AS INTEGER)
          + CAST(count(CASE WHEN agency_key = 2 THEN 1 END) > 0 AS INTEGER)
          + CAST(count(CASE WHEN agency_key = 3 THEN 1 END) > 0 AS INTEGER) AS agencies_all,
        min(event_date) AS first_event_date
    FROM costed_events
    GROUP BY person_key
)
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
    round(coalesce(a.cost_prev_12m, 0), 2) AS cost_prev_12m_gbp,
    round(coalesce(a.cost_all, 0), 2) AS cost_all_gbp,
    round(coalesce(a.cost_all_health, 0), 2) AS cost_all_health_gbp,
    round(coalesce(a.cost_all_social_care, 0), 2) AS cost_all_social_care_gbp,
    round(coalesce(a.cost_all_housing, 0), 2) AS cost_all_housing_gbp,
    round(coalesce(a.cost_all_police, 0), 2) AS cost_all_police_gbp,
    coalesce(a.events_12m, 0) AS events_12m,
    coalesce(a.events_12m_health, 0) AS events_12m_health,
    coalesce(a.events_12m_social_care, 0) AS events_12m_social_care,
    coalesce(a.events_12m_housing, 0) AS events_12m_housing,
    coalesce(a.events_12m_police, 0) AS events_12m_police,
    coalesce(a.events_all, 0) AS events_all,
    coalesce(a.events_all_health, 0) AS events_all_health,
    coalesce(a.events_all_social_care, 0) AS events_all_social_care,
    coalesce(a.events_all_housing, 0) AS events_all_housing,
    coalesce(a.events_all_police, 0) AS events_all_police,
    coalesce(a.handoffs_12m, 0) AS assessments_12m,
    coalesce(a.handoffs_all, 0) AS assessments_all,
    coalesce(a.agencies_12m, 0) AS agencies_12m,
    coalesce(a.agencies_all, 0) AS agencies_all,
    a.first_event_date
FROM {{persons}} AS p
LEFT JOIN per_person AS a ON a.person_key = p.person_key;
