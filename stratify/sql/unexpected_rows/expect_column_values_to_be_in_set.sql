-- The first data rows (1-based, file order) whose {{column}} is not one of
-- $value_set. Nulls are another expectation's business.
-- Inputs: stratify_work.delivery; $value_set (a list), $limit.

SELECT rowid + 1 AS data_row
FROM stratify_work.delivery
WHERE {{column}} IS NOT NULL AND NOT coalesce(list_contains($value_set, {{column}}), false)
ORDER BY rowid
LIMIT $limit;
