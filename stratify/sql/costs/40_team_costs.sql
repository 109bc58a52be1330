-- {{target}}: each neighbourhood team's people and their costs (12 months and
-- all history, by agency), interactions and handoffs; people with no team
-- (their LSOA is not mapped) under team NULL. Sums of pounds rounded to two
-- decimals, as each person's figure is (independent of the order they are added in).
-- Grain: one row per team. Input: {{person_costs}}.

CREATE OR REPLACE {{table_kind}} TABLE {{target}} AS
SELECT
    team,
    count(*) AS people,
    count(*) FILTER (WHERE cost_12m_gbp > 0) AS people_costed_12m,
    round(sum(cost_12m_gbp), 2) AS cost_12m_gbp,
    round(sum(cost_12m_health_gbp), 2) AS cost_12m_health_gbp,
    round(sum(cost_12m_social_care_gbp), 2) AS cost_12m_social_care_gbp,
    round(sum(cost_12m_housing_gbp), 2) AS cost_12m_housing_gbp,
    round(sum(cost_12m_police_gbp), 2) AS cost_12m_police_gbp,
    round(sum(cost_all_gbp), 2) AS cost_all_gbp,
    sum(events_12m) AS events_12m,
    sum(assessments_12m) AS assessments_12m
FROM {{person_costs}}
GROUP BY team;
