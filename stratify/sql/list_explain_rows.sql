-- list_explain_rows: the feature rows of the people in `list_people`, for explaining
-- the wobbling people the rank stage lists (stratify/model/explain.py).
-- Grain: one row per person. Inputs: feat_person, crisis, list_people.
-- Each table is cut to these people first (a few thousand of millions): joined whole,
-- DuckDB built its hash table on all of `crisis` (2.6 s at 3,000,000 people, 0.9 s now).

WITH shown AS MATERIALIZED (
    SELECT c.person_id, c.in_crisis, c.crisis_rules, c.crisis_reasons
    FROM crisis AS c
    SEMI JOIN list_people AS l ON c.person_id = l.person_id
),
shown_features AS MATERIALIZED (
    SELECT f.*
    FROM feat_person AS f
    SEMI JOIN list_people AS l ON f.person_id = l.person_id
)
SELECT f.*, c.in_crisis, c.crisis_rules, c.crisis_reasons
FROM shown_features AS f
JOIN shown AS c USING (person_id)
ORDER BY f.person_id;
