-- The first data rows (1-based, file order) where the required {{column}} is empty.
-- Inputs: stratify_work.delivery; $limit.

SELECT rowid + 1 AS data_row
FROM stratify_work.delivery
WHERE {{column}} IS NULL
ORDER BY rowid
LIMIT $limit;
