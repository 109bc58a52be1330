-- listed_tonight: the people on any team's ranked list tonight, either tier.
-- Output: rows. Grain: one row per person. Inputs: lists (the rank stage's table).
SELECT DISTINCT person_id FROM lists WHERE section = 'listed';
