-- The first data rows (1-based, file order) whose {{column}} is below
-- $min_value or above $max_value (a null bound is no bound).
-- Inputs: stratify_work.delivery; $min_value, $max_value, $limit.

SELECT rowid + 1 AS data_row
FROM stratify_work.delivery
WHERE {{column}} < $min_value OR {{column}} > $max_value
ORDER BY rowid
LIMIT $limit;
