-- feature_dates: the snapshot dates features are computed for. The nightly
-- run has one (the run date); training has one per month of history, so the
-- whole training table comes out of one pass over the events instead of one
-- pass per month.
-- Grain: one row per snapshot date. Parameters: $dates (a list of dates).

CREATE OR REPLACE TEMP TABLE feature_dates AS
SELECT DISTINCT CAST(d AS DATE) AS as_of
FROM (SELECT unnest(CAST($dates AS DATE[])) AS d);
