-- Every year of a baseline priced from one costed_events (81_baseline_events.sql):
-- baseline_year_events, baseline_year_people and baseline_year_types (temporary).
-- The years are the temporary table baseline_years (year, as_of); year y is the
-- 365 days ending on its as_of, for the people born by then. Priced exactly as
-- 10_costed_events.sql prices one as-of date:
--   per_event: the unit cost, in the 12 months of the one year whose 365 days hold its date;
--   per_day / per_week: each year's own stay [event_date, stay_end), stay_end =
--   stay_end_known (or, open, the as-of date), never after the as-of date and
--   at least one day; overlapping stays of one kind of one person are costed for
--   the days no earlier-starting one covered; its 12-month part is the days from
--   as_of - 364 on.
-- Inputs: costed_events, baseline_years.

-- baseline_year_events: the rows each year's 12-month figures add up (an event
-- dated in the year, or a stay with days in it). Grain: one row per (year, event).
CREATE OR REPLACE TEMP TABLE baseline_year_stays AS
WITH stay AS (
    SELECT
        y.year, y.as_of, e.person_key, e.type_key, e.agency_key, e.is_handoff, e.event_date, e.unit_cost, e.unit_days,
        greatest(least(e.stay_end_known, y.as_of), e.event_date + 1) AS stay_end
    FROM costed_events AS e
    JOIN baseline_years AS y ON e.event_date <= y.as_of
    WHERE e.is_stay AND e.birth_year_month <= strftime(y.as_of, '%Y-%m')
),
covered AS (
    SELECT *, max(stay_end) OVER (PARTITION BY year, person_key, type_key ORDER BY event_date, stay_end
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS covered_to
    FROM stay
),
ranged AS (
    SELECT *,
        greatest(event_date, coalesce(covered_to, event_date)) AS stay_from,
        greatest(stay_end, coalesce(covered_to, event_date)) AS stay_to
    FROM covered
)
SELECT
    year, person_key, type_key, agency_key, is_handoff,
    event_date > as_of - 365 AS in_12m,
    unit_cost * datediff('day', stay_from, stay_to) / unit_days AS cost_all,
    unit_cost * greatest(0, datediff('day', greatest(stay_from, as_of - 364), stay_to)) / unit_days AS cost_12m
FROM ranged;

CREATE OR REPLACE TEMP TABLE baseline_year_events AS
SELECT y.year, e.person_key, e.type_key, e.agency_key, e.is_handoff, true AS in_12m, e.unit_cost AS cost_12m
FROM costed_events AS e
JOIN baseline_years AS y ON e.event_date > y.as_of - 365 AND e.event_date <= y.as_of
WHERE NOT e.is_stay AND e.birth_year_month <= strftime(y.as_of, '%Y-%m')
UNION ALL
SELECT year, person_key, type_key, agency_key, is_handoff, in_12m, cost_12m
FROM baseline_year_stays
WHERE in_12m OR cost_12m > 0;

-- baseline_year_people: each person's 12 months, as 20_person_costs.sql sums them.
-- Grain: one row per (year, person with a row in baseline_year_events).
CREATE OR REPLACE TEMP TABLE baseline_year_people AS
SELECT
    year,
    person_key,
    sum(cost_12m) AS cost_12m,
    sum(CASE WHEN agency_key = 0 THEN cost_12m END) AS cost_12m_health,
    sum(CASE WHEN agency_key = 1 THEN cost_12m END) AS cost_12m_social_care,
    sum(CASE WHEN agency_key = 2 THEN cost_12m END) AS cost_12m_housing,
    sum(CASE WHEN agency_key = 3 THEN cost_12m END) AS cost_12m_police,
    count(CASE WHEN in_12m THEN 1 END) AS events_12m,
    count(CASE WHEN in_12m AND agency_key = 0 THEN 1 END) AS events_12m_health,
    count(CASE WHEN in_12m AND agency_key = 1 THEN 1 END) AS events_12m_social_care,
    count(CASE WHEN in_12m AND agency_key = 2 THEN 1 END) AS events_12m_housing,
    count(CASE WHEN in_12m AND agency_key = 3 THEN 1 END) AS events_12m_police,
    count(CASE WHEN in_12m AND is_handoff THEN 1 END) AS handoffs_12m,
    CAST(count(CASE WHEN in_12m AND agency_key = 0 THEN 1 END) > 0 AS INTEGER)
      + CAST(count(CASE WHEN in_12m AND agency_key = 1 THEN 1 END) > 0 AS INTEGER)
      + CAST(count(CASE WHEN in_12m AND agency_key = 2 THEN 1 END) > 0 AS INTEGER)
      + CAST(count(CASE WHEN in_12m AND agency_key = 3 THEN 1 END) > 0 AS INTEGER) AS agencies_12m
FROM baseline_year_events
GROUP BY year, person_key;

-- baseline_year_types: each year's interactions and cost by event type, as
-- 60_event_type_costs.sql counts them (all history: every event dated by the year's as_of).
-- Grain: one row per (year, type_key with an event).
CREATE OR REPLACE TEMP TABLE baseline_year_types AS
WITH history AS (
    SELECT y.year, e.type_key, count(*) AS events_all, sum(e.unit_cost) AS cost_all_gbp
    FROM costed_events AS e
    JOIN baseline_years AS y ON e.event_date <= y.as_of
    WHERE NOT e.is_stay AND e.birth_year_month <= strftime(y.as_of, '%Y-%m')
    GROUP BY ALL
    UNION ALL
    SELECT year, type_key, count(*), sum(cost_all) FROM baseline_year_stays GROUP BY ALL
),
window_12m AS (
    SELECT
        year,
        type_key,
        count(CASE WHEN in_12m THEN 1 END) AS events_12m,
        sum(cost_12m) AS cost_12m_gbp,
        count(DISTINCT CASE WHEN in_12m THEN person_key END) AS people_12m
    FROM baseline_year_events
    GROUP BY year, type_key
)
SELECT h.year, h.type_key, w.events_12m, w.cost_12m_gbp, h.events_all, h.cost_all_gbp, w.people_12m
FROM history AS h
LEFT JOIN window_12m AS w USING (year, type_key);
