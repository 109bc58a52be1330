-- drift_snapshot_rows: one snapshot of the drift measure's feature table (feat_train, built by the
-- measure stage for the latest labelled period and the monthly dates after it), with only the
-- columns it reads: the team, the groups and the feature columns named in $columns (the
-- promoted model's features, or the crisis rules' columns). In person order, so row i is the
-- same person on every date.
-- Output: rows. Grain: one row per person. Inputs: feat_train. Parameters: $as_of, $columns.
SELECT
    person_id,
    coalesce(team, '') AS team,
    sex,
    age_band,
    ethnic_group,
    COLUMNS(lambda col: list_contains(CAST($columns AS VARCHAR[]), col)
                        AND col NOT IN ('person_id', 'team', 'sex', 'age_band', 'ethnic_group', 'as_of'))
FROM feat_train
WHERE as_of = CAST($as_of AS DATE)
ORDER BY person_id;
