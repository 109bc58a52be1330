-- list_history_of: earlier published list rows of the people in `list_people`
-- (registered by the caller), for the tier they had when a team recorded an outcome.
-- Grain: one row per (run, team, person). Inputs: list_history, list_people.

SELECT h.team, h.person_id, h.as_of, h.published_at, h.tier
FROM list_history AS h
SEMI JOIN list_people AS l ON h.person_id = l.person_id
ORDER BY h.team, h.person_id, h.as_of, h.published_at;
