-- promoted_model: the promoted wobbling model's version and recorded metrics (no model file is read).
-- Output: rows. Grain: at most one row. Inputs: models.
SELECT model_version, metrics_json FROM models WHERE promoted;
