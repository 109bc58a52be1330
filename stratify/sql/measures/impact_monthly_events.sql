-- impact_monthly_events: each person's interactions per calendar month, as known
-- on $as_of (point-in-time: rows delivered by then and not yet superseded), for
-- months from $first_month to the month of $as_of.
-- Output: rows. Grain: one row per (person_id, month) with at least one event.
-- Inputs: raw_events, persons. Parameters: $as_of, $first_month (a DATE, first of a month).
SELECT
    e.person_id,
    (year(e.event_date) - year(CAST($first_month AS DATE))) * 12
        + month(e.event_date) - month(CAST($first_month AS DATE)) AS month_index,
    count(*) AS interactions
FROM raw_events AS e
JOIN persons AS p USING (person_id)
WHERE e.delivered_on <= CAST($as_of AS DATE)
  AND (e.superseded_on IS NULL OR e.superseded_on > CAST($as_of AS DATE))
  AND e.event_date >= CAST($first_month AS DATE)
  AND e.event_date <= CAST($as_of AS DATE)
GROUP BY ALL;
