-- list_outcomes: what each team last recorded about each person, as known on $as_of:
-- the latest outcome of any kind (shown on the list) and the latest status outcome
-- (engaged, already_supported, declined, not_appropriate: these decide "already
-- working with" and snoozing). An outcome without a team counts for the person's
-- current team. Ties on a date go to the later delivery, then the larger record_id.
-- And what takes a person off a list (`withdrawn`, `withdrawn_date`):
--   wrong_person  recorded by any team: the records under this pseudonym are not one
--                 person; off every list until the data changes (a register row for the
--                 person delivered after the outcome, or a later outcome of any kind).
--   moved_away    recorded by this team: off this team's list until a register row for
--                 the person is delivered after the outcome.
-- Grain: one row per (person_id, team) with an outcome, and one for the current team of
-- each person with a wrong_person in force.
-- Inputs: raw_outcomes, raw_register, persons, wrong_persons (temp: wrong_persons.sql, run first).
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
),
moved AS (
    SELECT person_id, team, event_date AS withdrawn_date, delivered_on
    FROM known
    WHERE outcome = 'moved_away'
    QUALIFY row_number() OVER (PARTITION BY person_id, team
                               ORDER BY event_date DESC, delivered_on DESC, record_id DESC) = 1
),
registered AS (  -- when the register row of each of them last changed, as known on $as_of
    SELECT r.person_id, max(r.delivered_on) AS changed_on
    FROM raw_register AS r
    SEMI JOIN moved AS m ON r.person_id = m.person_id
    WHERE r.delivered_on <= CAST($as_of AS DATE)
    GROUP BY r.person_id
),
moved_in_force AS (
    SELECT m.person_id, m.team, m.withdrawn_date
    FROM moved AS m
    LEFT JOIN registered AS r USING (person_id)
    WHERE coalesce(r.changed_on <= m.delivered_on, true)
),
teams AS (
    SELECT person_id, team FROM last_any WHERE team IS NOT NULL
    UNION
    SELECT w.person_id, p.team FROM wrong_persons AS w JOIN persons AS p USING (person_id) WHERE p.team IS NOT NULL
)
SELECT t.person_id, t.team, s.status_outcome, s.status_date, a.last_outcome, a.last_date,
       CASE WHEN w.person_id IS NOT NULL THEN 'wrong_person'
            WHEN m.person_id IS NOT NULL THEN 'moved_away' END AS withdrawn,
       coalesce(w.withdrawn_date, m.withdrawn_date) AS withdrawn_date
FROM teams AS t
LEFT JOIN last_any AS a USING (person_id, team)
LEFT JOIN last_status AS s USING (person_id, team)
LEFT JOIN wrong_persons AS w USING (person_id)
LEFT JOIN moved_in_force AS m USING (person_id, team)
ORDER BY t.team, t.person_id;
