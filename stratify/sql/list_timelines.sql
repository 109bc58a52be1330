-- list_timelines: each shown person's contacts by agency and week over the last
-- $days days up to $as_of, as known on $as_of (same point-in-time rule as the
-- features). week_ago 0 = the week ending on $as_of.
-- Grain: one row per (person, source, week) with events. Inputs: raw_events, list_people.
-- Parameters: $as_of, $days.

SELECT
    e.person_id,
    e.source,
    CAST(datediff('day', e.event_date, CAST($as_of AS DATE)) // 7 AS INTEGER) AS week_ago,
    count(*) AS events
FROM raw_events AS e
SEMI JOIN list_people AS l ON e.person_id = l.person_id
WHERE e.delivered_on <= CAST($as_of AS DATE)
  AND (e.superseded_on IS NULL OR e.superseded_on > CAST($as_of AS DATE))
  AND e.event_date <= CAST($as_of AS DATE)
  AND e.event_date > CAST($as_of AS DATE) - CAST($days AS INTEGER)
GROUP BY ALL
ORDER BY e.person_id, e.source, week_ago;
