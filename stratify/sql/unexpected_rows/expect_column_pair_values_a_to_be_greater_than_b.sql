-- The first data rows (1-based, file order) where {{column_a}} is before
-- {{column_b}} (or equal to it when $or_equal is false); rows missing either
-- are skipped, as the suite says. Inputs: stratify_work.delivery; $or_equal, $limit.

SELECT rowid + 1 AS data_row
FROM stratify_work.delivery
WHERE {{column_a}} IS NOT NULL AND {{column_b}} IS NOT NULL
  AND ({{column_a}} < {{column_b}} OR (NOT $or_equal AND {{column_a}} = {{column_b}}))
ORDER BY rowid
LIMIT $limit;
