-- {{target}}: each neighbourhood team's people and their costs (12 months and
-- all history, by agency), interactions and handoffs; people with no team
-- (their LSOA is not mapped) under team NULL.
-- Grain: one row per team. Input: {{person_costs}}.

CREATE OR REPLACE {{table_kind}} TABLE {{target}} AS
SELECT
    team,
    count(*) AS people,
    count(*) FILTER (WHERE cost_12m_gbp > 0) AS people_costed_12m,
    sum(cost_12m_gbp) AS cost_12m_gbp,
    sum(cost_12m_health_gbp) AS cost_12m_health_gbp,
    sum(cost_12m_social_care_gbp) AS cost_12m_social_care_gbp,
    sum(cost_12m_housing_gbp) AS cost_12m_housing_gbp,
    sum(cost_12m_police_gbp) AS cost_12m_police_gbp,
    sum(cost_all_gbp) AS cost_all_gbp,
    sum(events_12m) AS events_12m,
    sum(assessments_12m) AS assessments_12m
FROM {{person_costs}}
GROUP BY team;
