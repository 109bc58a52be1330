-- {{target}}: the place's interactions and their estimated cost by agency
-- (source) and event type, in the 365 days ending on $as_of and over all
-- history, with the unit cost and unit used (0 = not costed by the table).
-- Grain: one row per contract event type in unit_costs. Inputs: unit_costs, costed_events.

CREATE OR REPLACE {{table_kind}} TABLE {{target}} AS
SELECT
    c.source,
    c.event_type,
    CAST(c.cost_gbp AS DOUBLE) AS unit_cost_gbp,
    c.unit,
    count(ev.person_key) FILTER (WHERE ev.in_12m) AS events_12m,
    coalesce(sum(ev.cost_12m), 0) AS cost_12m_gbp,
    count(ev.person_key) AS events_all,
    coalesce(sum(ev.cost_all), 0) AS cost_all_gbp,
    count(DISTINCT ev.person_key) FILTER (WHERE ev.in_12m) AS people_12m
FROM unit_costs AS c
LEFT JOIN costed_events AS ev ON ev.source = c.source AND ev.event_type = c.event_type
GROUP BY c.source, c.event_type, c.cost_gbp, c.unit;
