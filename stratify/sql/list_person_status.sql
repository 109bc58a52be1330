-- list_person_status: tonight's team, death, tier and score of the people in
-- `list_people` (the previous lists' people), to say why someone dropped off.
-- People no longer in `persons` (removed from the register or opted out) are absent.
-- Grain: one row per person found. Inputs: persons, scores, list_people.

SELECT p.person_id, p.team, p.died, coalesce(s.tier, '') AS tier, s.score
FROM persons AS p
SEMI JOIN list_people AS l ON p.person_id = l.person_id
LEFT JOIN scores AS s USING (person_id)
ORDER BY p.person_id;
