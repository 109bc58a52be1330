-- report_failed_checks: the checks that failed (or warned) on the run's deliveries.
-- Grain: one row per failed expectation per delivery. Inputs: validation_results.
-- Parameters: $run_id.

SELECT
    delivery_id,
    expectation,
    column_name,
    severity,
    element_count,
    unexpected_count,
    detail
FROM validation_results
WHERE run_id = $run_id AND NOT success
ORDER BY delivery_id, severity, expectation
