-- report_promoted_model: the wobbling model the lists are scored with (the promoted one), and its metrics.
-- Grain: at most one row. Inputs: models.
-- Parameters: none.

SELECT
    model_version,
    strftime(timezone('UTC', trained_at), '%Y-%m-%d %H:%M UTC') AS trained_utc,
    as_of,
    data_from,
    data_to,
    horizon_months,
    algorithm,
    metrics_json
FROM models
WHERE promoted
ORDER BY trained_at DESC
LIMIT 1
