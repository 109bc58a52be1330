-- {{target}}: one plan per family means one cost per family: each household's
-- members (people in {{person_costs}} with that register household_id) and the
-- sum of their costs, 12 months, the 12 before (the trend) and all history, in total and by agency, with
-- their interactions and handoffs. People without a household_id are not here.
-- Sums of pounds are rounded to two decimals (each person's figure already is), so
-- they do not depend on the order DuckDB's threads add them in; `team` is the
-- household's first team by name (a household split across teams has `teams` > 1).
-- Grain: one row per household_id. Input: {{person_costs}}.

CREATE OR REPLACE {{table_kind}} TABLE {{target}} AS
SELECT
    household_id,
    count(*) AS members,
    min(team) AS team,
    count(DISTINCT team) AS teams,
    round(sum(cost_12m_gbp), 2) AS cost_12m_gbp,
    round(sum(cost_12m_health_gbp), 2) AS cost_12m_health_gbp,
    round(sum(cost_12m_social_care_gbp), 2) AS cost_12m_social_care_gbp,
    round(sum(cost_12m_housing_gbp), 2) AS cost_12m_housing_gbp,
    round(sum(cost_12m_police_gbp), 2) AS cost_12m_police_gbp,
    round(sum(cost_prev_12m_gbp), 2) AS cost_prev_12m_gbp,
    round(sum(cost_all_gbp), 2) AS cost_all_gbp,
    sum(events_12m) AS events_12m,
    sum(assessments_12m) AS assessments_12m,
    max(agencies_12m) AS most_agencies_12m
FROM {{person_costs}}
WHERE household_id IS NOT NULL
GROUP BY household_id;
