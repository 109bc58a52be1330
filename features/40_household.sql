-- feat_household: the people a person lives with (same household_id in the
-- register): how many, how many of the others have any disadvantage domain
-- active in 12 months, and how many children in the household came under a
-- child-protection or child-in-need plan, or into care, in 12 months.
-- Grain: one row per person with a household. Inputs: {{persons}}, feat_smd, known_events.

CREATE OR REPLACE TEMP TABLE feat_household AS
WITH member AS (
    SELECT
        p.person_id,
        p.household_id,
        coalesce(s.smd_domains_365d, 0) > 0 AS has_smd,
        EXISTS (
            SELECT 1 FROM known_events AS k
            WHERE k.person_id = p.person_id
              AND k.source = 'social_care'
              AND k.event_type IN ('child_protection_start', 'child_in_need_start', 'looked_after_start')
              AND k.days_ago < 365
        ) AS child_on_plan
    FROM {{persons}} AS p
    LEFT JOIN feat_smd AS s USING (person_id)
    WHERE p.household_id IS NOT NULL
),
household AS (
    SELECT
        household_id,
        count(*) AS members,
        count(*) FILTER (WHERE has_smd) AS members_smd,
        count(*) FILTER (WHERE child_on_plan) AS children_on_plans
    FROM member
    GROUP BY household_id
)
SELECT
    m.person_id,
    h.members AS household_members,
    h.members_smd - CAST(m.has_smd AS INTEGER) AS household_others_smd_365d,
    h.children_on_plans AS household_children_on_plans_365d
FROM member AS m
JOIN household AS h USING (household_id);
