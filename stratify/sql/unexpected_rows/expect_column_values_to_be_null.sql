-- The first data rows (1-based, file order) that give {{column}} although
-- their {{condition_column}} is not one of $condition_values (the suite's
-- row condition: the column is only for those event types).
-- Inputs: stratify_work.delivery; $condition_values (a list), $limit.

SELECT rowid + 1 AS data_row
FROM stratify_work.delivery
WHERE {{column}} IS NOT NULL AND NOT list_contains($condition_values, {{condition_column}})
ORDER BY rowid
LIMIT $limit;
