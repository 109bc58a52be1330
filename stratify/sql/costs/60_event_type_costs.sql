-- {{target}}: the place's interactions and their estimated cost by agency
-- (source) and event type, in the 365 days ending on $as_of and over all
-- history, with the unit cost and unit used (0 = not costed by the table).
-- Grain: one row per contract event type in unit_costs. Inputs: unit_costs, costed_events.

CREATE OR REPLACE {{table_kind}} TABLE {{target}} AS
WITH per_type AS (
    SELECT
        type_key,
        count(CASE WHEN in_12m THEN 1 END) AS events_12m,
        sum(cost_12m) AS cost_12m_gbp,
        count(*) AS events_all,
        sum(cost_all) AS cost_all_gbp,
        count(DISTINCT CASE WHEN in_12m THEN person_key END) AS people_12m
    FROM costed_events
    GROUP BY type_key
)
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
LEFT JOIN per_type AS t USING (type_key);
