-- drift_measures: the promoted model re-measured on its latest labelled period
-- (stratify.measures.drift), kept so that the nights between two
-- re-measurements report the last one (measures.drift_every_days) instead of
-- rebuilding every feature for seven dates each night.
-- Grain: one row per (model_version, as_of) it was measured on.
CREATE TABLE IF NOT EXISTS drift_measures (
    model_version VARCHAR NOT NULL,
    as_of         DATE NOT NULL,     -- the night it was measured; its period is in the JSON
    measured_at   TIMESTAMP NOT NULL,
    result_json   VARCHAR NOT NULL,  -- latest_labelled_period's figures, before suppression
    PRIMARY KEY (model_version, as_of)
);
