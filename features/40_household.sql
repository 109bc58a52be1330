-- feat_household: the people a person lives with (same household_id in the
-- register): how many, how many of the others have any disadvantage domain
-- active in 12 months, and how many children in the household came under a
-- child-protection or child-in-need plan, or into care, in 12 months.
-- Grain: one row per (snapshot date, person with a household), keyed by person_key
-- ({{persons}}' rowid, as in known_events).
-- Inputs: {{persons}}, feature_dates, feat_smd, known_events.

CREATE OR REPLACE TEMP TABLE feat_household AS
WITH on_plan AS (
    SELECT DISTINCT as_of, person_key
    FROM known_events
    WHERE source = 'social_care'
      AND event_type IN ('child_protection_start', 'child_in_need_start', 'looked_after_start')
      AND days_ago < 365
),
member AS (
    SELECT
        d.as_of,
        p.rowid AS person_key,
        p.household_id,
        coalesce(s.smd_domains_365d, 0) > 0 AS has_smd,
        o.person_key IS NOT NULL AS child_on_plan
    FROM {{persons}} AS p
    CROSS JOIN feature_dates AS d
    LEFT JOIN feat_smd AS s ON s.as_of = d.as_of AND s.person_key = p.rowid
    LEFT JOIN on_plan AS o ON o.as_of = d.as_of AND o.person_key = p.rowid
    WHERE p.household_id IS NOT NULL
),
household AS (
    SELECT
        as_of,
        household_id,
        count(*) AS members,
        count(*) FILTER (WHERE has_smd) AS members_smd,
        count(*) FILTER (WHERE child_on_plan) AS children_on_plans
    FROM member
    GROUP BY as_of, household_id
)
SELECT
    m.as_of,
    m.person_key,
    h.members AS household_members,
    h.members_smd - CAST(m.has_smd AS INTEGER) AS household_others_smd_365d,
    h.children_on_plans AS household_children_on_plans_365d
FROM member AS m
JOIN household AS h USING (as_of, household_id);
