-- source_freshness: per source, the delivery date of its last accepted delivery
-- that was loaded (or accepted in this run, which loads it before publishing),
-- and what became of tonight's deliveries of it.
-- Grain: one row per source that has ever delivered. Inputs: deliveries.
-- Parameters: $run_id.

SELECT
    source,
    max(delivery_date) FILTER (
        WHERE decision IN ('accepted', 'accepted_with_warnings')
          AND (loaded_at IS NOT NULL OR run_id = $run_id)
    ) AS last_accepted,
    count(*) FILTER (WHERE run_id = $run_id AND decision <> 'duplicate') AS tonight,
    count(*) FILTER (WHERE run_id = $run_id AND decision IN ('refused', 'held')) AS tonight_bad
FROM deliveries
WHERE source IS NOT NULL
GROUP BY source
ORDER BY source
