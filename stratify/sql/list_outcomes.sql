-- list_outcomes: what each team last recorded about each person, as known on $as_of:
-- the latest outcome of any kind (shown on the list) and the latest status outcome
-- (engaged, already_supported, declined, not_appropriate: these decide "already
-- working with" and snoozing). An outcome without a team counts for the person's
-- current team. Ties on a date go to the later delivery, then the larger record_id.
-- Grain: one row per (person_id, team) with an outcome. Inputs: raw_outcomes, persons.
-- Parameters: $as_of.

WITH known AS (
    SELECT
        o.person_id,
        coalesce(o.team, p.team) AS team,
        o.event_date,
        o.outcome,
        o.delivered_on,
        o.record_id
    FROM raw_outcomes AS o
    JOIN persons AS p USING (person_id)
    WHERE o.delivered_on <= CAST($as_of AS DATE)
      AND (o.superseded_on IS NULL OR o.superseded_on > CAST($as_of AS DATE))
      AND o.event_date <= CAST($as_of AS DATE)
      AND o.outcome IS NOT NULL
),
last_any AS (
    SELECT person_id, team, outcome AS last_outcome, event_date AS last_date
    FROM known
    QUALIFY row_number() OVER (PARTITION BY person_id, team
                               ORDER BY event_date DESC, delivered_on DESC, record_id DESC) = 1
),
last_status AS (
    SELECT person_id, team, outcome AS status_outcome, event_date AS status_date
    FROM known
    WHERE outcome IN ('engaged', 'already_supported', 'declined', 'not_appropriate')
    QUALIFY row_number() OVER (PARTITION BY person_id, team
                               ORDER BY event_date DESC, delivered_on DESC, record_id DESC) = 1
)
SELECT a.person_id, a.team, s.status_outcome, s.status_date, a.last_outcome, a.last_date
FROM last_any AS a
LEFT JOIN last_status AS s USING (person_id, team)
WHERE a.team IS NOT NULL
ORDER BY a.team, a.person_id;
