-- score_rows: everyone the scoring stage scores tonight (alive, in a team's area),
-- with only the columns it reads: team, the crisis tier's
-- columns, and the feature columns named in $columns (the model's features and
-- the severity's counts). Reading all of feat_person instead cost more than
-- predicting. Whole rows of the few people listed are read by list_explain_rows.sql.
-- In no particular order: each score depends on its own row only, and scoring
-- breaks ties by person_id where order matters; sorting ~110 columns of
-- everyone cost 0.3-0.5 s at 330,000 people.
-- Grain: one row per scored person. Inputs: feat_person, crisis.
-- Parameters: $columns (feature column names, a list of strings).

SELECT
    f.person_id,
    f.team,
    c.in_crisis,
    c.crisis_rules,
    c.crisis_reasons,
    COLUMNS(lambda col: list_contains(CAST($columns AS VARCHAR[]), col) AND col NOT IN ('person_id', 'team', 'household_id'))
FROM feat_person AS f
JOIN crisis AS c USING (person_id)
WHERE NOT f.died
  AND f.team IS NOT NULL;
