-- report_deliveries: every file a run saw, with its decision and a count of its checks.
-- Grain: one row per delivery of the run. Inputs: deliveries, validation_results.
-- Parameters: $run_id.

SELECT
    d.delivery_id,
    d.source,
    d.file_name,
    d.sha256,
    d.size_bytes,
    d.delivery_date,
    d.delivery_seq,
    strftime(timezone('UTC', d.received_at), '%Y-%m-%d %H:%M UTC') AS received_utc,
    d.rows,
    d.decision,
    d.reason,
    count(v.expectation) AS checks,
    count(v.expectation) FILTER (WHERE v.success) AS checks_passed,
    count(v.expectation) FILTER (WHERE NOT v.success AND v.severity = 'critical') AS checks_failed,
    count(v.expectation) FILTER (WHERE NOT v.success AND v.severity <> 'critical') AS checks_warned
FROM deliveries AS d
LEFT JOIN validation_results AS v ON v.delivery_id = d.delivery_id AND v.run_id = d.run_id
WHERE d.run_id = $run_id
GROUP BY ALL
ORDER BY d.source NULLS LAST, d.delivery_date, d.delivery_seq NULLS FIRST, d.delivery_id
