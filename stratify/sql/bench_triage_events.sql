-- bench_triage_events: the events dssg/triage is given in the wobbling benchmark (bench/triage/): the
-- current version of every delivered event of a linked person (no superseded row), dated on or before the
-- as-of date, with the person as triage's integer entity id (their rowid in persons).
-- Output: entity_id, event_date, source, event_type. Grain: one row per event.
-- Inputs: raw_events, persons. Parameters: $as_of.
SELECT p.rowid::INTEGER AS entity_id, e.event_date, e.source, e.event_type
FROM raw_events AS e
JOIN persons AS p ON e.person_id = p.person_id
WHERE e.superseded_on IS NULL
  AND e.event_date <= CAST($as_of AS DATE)
ORDER BY entity_id, e.event_date
