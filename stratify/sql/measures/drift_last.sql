-- drift_last: the promoted model's latest re-measurement on or before tonight.
-- Output: at most one row (as_of, result_json). Grain: one row.
-- Inputs: drift_measures. Parameters: $model_version, $as_of.
SELECT as_of, result_json
FROM drift_measures
WHERE model_version = $model_version AND as_of <= $as_of
ORDER BY as_of DESC
LIMIT 1;
