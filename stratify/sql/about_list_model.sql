-- about_list_model: the wobbling model a run's lists were scored with, for what the
-- team pages say about the list (stratify/publish/about_list.py).
-- Output: at most one row (model_version, horizon_months, metrics_json); model
-- columns are NULL when the run used no model. Grain: the run.
-- Inputs: runs, models. Parameters: $run_id.

SELECT r.model_version, m.horizon_months, m.metrics_json
FROM runs AS r
LEFT JOIN models AS m USING (model_version)
WHERE r.run_id = $run_id
