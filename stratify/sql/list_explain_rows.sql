-- list_explain_rows: the feature rows of the people in `list_people`, for explaining
-- wobbling scores the scoring stage did not explain.
-- Grain: one row per person. Inputs: feat_person, crisis, list_people.

SELECT f.*, c.in_crisis, c.crisis_rules, c.crisis_reasons
FROM feat_person AS f
JOIN crisis AS c USING (person_id)
SEMI JOIN list_people AS l ON f.person_id = l.person_id
ORDER BY f.person_id;
