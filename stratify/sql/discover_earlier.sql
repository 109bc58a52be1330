-- discover_earlier: the first delivery with the same sha256 that was already accepted for good.
-- Grain: at most one row (delivery_id). Inputs: deliveries, runs.
-- Parameters: $sha (the file's sha256), $run (this run, whose own acceptances count too).
SELECT d.delivery_id
FROM deliveries AS d
LEFT JOIN runs AS r USING (run_id)
WHERE d.sha256 = $sha
  AND d.decision IN ('accepted', 'accepted_with_warnings')
  AND (d.loaded_at IS NOT NULL OR r.status IN ('published', 'held') OR d.run_id = $run)
ORDER BY d.delivery_id
LIMIT 1;
