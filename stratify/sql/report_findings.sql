-- report_findings: what every check found on the run's deliveries, as fields (rule, column, how many, of how
-- many, what they count, first rows, names), for the validation page to word and suppress as it renders them.
-- Grain: one row per check per delivery. Inputs: validation_results (warehouse/006_validation_findings.sql).
-- Parameters: $run_id.

SELECT
    delivery_id,
    expectation,
    column_name,
    severity,
    success,
    element_count,
    unexpected_count,
    rule,
    checked_by,
    failure,
    counted,
    first_rows,
    names,
    limit_share,
    note
FROM validation_results
WHERE run_id = $run_id
ORDER BY delivery_id, success, severity, expectation
