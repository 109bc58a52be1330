-- drift_save: keep tonight's re-measurement of the promoted model (replacing a measurement of the same night).
-- Output: drift_measures, one row. Grain: (model_version, as_of).
-- Inputs: none. Parameters: $model_version, $as_of, $result_json.
INSERT OR REPLACE INTO drift_measures (model_version, as_of, measured_at, result_json)
VALUES ($model_version, $as_of, now(), $result_json);
