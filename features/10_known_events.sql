-- known_events: every event of a linked person dated in the two years up to
-- $as_of, as it was known from deliveries on or before $known_at (so a later
-- delivery can never change an earlier snapshot), one row per event.
-- Grain: one row per event. Inputs: raw_events, {{persons}}.
-- Parameters: $as_of (snapshot date), $known_at (delivery cut-off).

CREATE OR REPLACE TEMP TABLE known_events AS
SELECT
    row_number() OVER () AS event_key,
    e.source,
    e.person_id,
    e.event_date,
    e.event_type,
    e.role,
    e.diagnosis_code,
    datediff('day', e.event_date, CAST($as_of AS DATE)) AS days_ago
FROM raw_events AS e
SEMI JOIN {{persons}} AS p ON e.person_id = p.person_id
WHERE e.delivered_on <= CAST($known_at AS DATE)
  AND (e.superseded_on IS NULL OR e.superseded_on > CAST($known_at AS DATE))
  AND e.event_date <= CAST($as_of AS DATE)
  AND e.event_date > CAST($as_of AS DATE) - 730;

-- domain_events: known events that are evidence of a domain of severe and
-- multiple disadvantage (mapping from configuration, in table domain_map).
-- Grain: one row per (event, domain).
CREATE OR REPLACE TEMP TABLE domain_events AS
SELECT DISTINCT k.event_key, k.person_id, k.days_ago, m.domain
FROM known_events AS k
JOIN domain_map AS m
  ON k.source = m.source
 AND (m.event_type IS NULL OR k.event_type = m.event_type)
 AND (m.role IS NULL OR k.role = m.role)
 AND (m.icd10_from IS NULL
      OR (k.diagnosis_code IS NOT NULL AND left(k.diagnosis_code, 3) BETWEEN m.icd10_from AND m.icd10_to));
