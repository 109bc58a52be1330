-- known_events: for each snapshot date in feature_dates, every event of a
-- linked person dated in the two years up to it, as it was known from
-- deliveries on or before $known_at (so a later delivery can never change an
-- earlier snapshot). days_ago counts back from the row's own snapshot date.
-- Grain: one row per (snapshot date, event). Inputs: raw_events, {{persons}}, feature_dates.
-- Parameters: $known_at (delivery cut-off).
-- event_key is the event's rowid in raw_events: unique per event, which is all
-- domain_events needs of it (row_number() OVER () gave the same uniqueness for
-- a window pass over every event, 0.35 of 1 CPU s at 330,000 people).
-- person_key is the person's rowid in {{persons}} (person_id is unique there, so
-- the join keeps each event once). Every intermediate table is keyed by it and
-- feat_person joins back on the rowid: an integer instead of a 64-character
-- person_id in each event row, aggregate and join (at 3,000,000 people the
-- build went from 18.3 to 15.7 s; the intermediates spill past memory_limit).

-- The join with {{persons}} is built on the people, with the events as the
-- probe side. DuckDB's build-side optimizer turns it round (its filtered
-- estimate for the events falls below the register's size), building a hash
-- table of every event and its columns instead: 0.6 against 0.35 CPU s at
-- 330,000 people. Switched off for this one statement only.
SET disabled_optimizers = 'build_side_probe_side';

CREATE OR REPLACE TEMP TABLE known_events AS
WITH span AS (
    SELECT min(as_of) AS first_date, max(as_of) AS last_date FROM feature_dates
),
events AS (
    SELECT
        e.rowid AS event_key,
        e.source,
        p.rowid AS person_key,
        e.event_date,
        e.event_type,
        e.role,
        e.diagnosis_code
    FROM raw_events AS e
    JOIN {{persons}} AS p ON e.person_id = p.person_id
    WHERE e.delivered_on <= CAST($known_at AS DATE)
      AND (e.superseded_on IS NULL OR e.superseded_on > CAST($known_at AS DATE))
      AND e.event_date <= (SELECT last_date FROM span)
      AND e.event_date > (SELECT first_date FROM span) - 730
)
SELECT
    d.as_of,
    ev.event_key,
    ev.source,
    ev.person_key,
    ev.event_date,
    ev.event_type,
    ev.role,
    ev.diagnosis_code,
    datediff('day', ev.event_date, d.as_of) AS days_ago
FROM events AS ev
JOIN feature_dates AS d
  ON ev.event_date <= d.as_of
 AND ev.event_date > d.as_of - 730;

RESET disabled_optimizers;

-- domain_events: known events of the last 365 days (the longest domain window)
-- that are evidence of a domain of severe and multiple disadvantage (mapping
-- from configuration, in table domain_map).
-- Grain: one row per (snapshot date, event, domain).
CREATE OR REPLACE TEMP TABLE domain_events AS
SELECT DISTINCT k.as_of, k.event_key, k.person_key, k.days_ago, m.domain
FROM known_events AS k
JOIN domain_map AS m
  ON k.source = m.source
 AND (m.event_type IS NULL OR k.event_type = m.event_type)
 AND (m.role IS NULL OR k.role = m.role)
 AND (m.icd10_from IS NULL
      OR (k.diagnosis_code IS NOT NULL AND left(k.diagnosis_code, 3) BETWEEN m.icd10_from AND m.icd10_to))
WHERE k.days_ago < 365;
