-- The first data rows (1-based, file order) whose {{column}} does not match
-- $regex: a search, as GX's expectation runs it (regexp_matches). Nulls are
-- another expectation's business. Inputs: stratify_work.delivery; $regex, $limit.

SELECT rowid + 1 AS data_row
FROM stratify_work.delivery
WHERE {{column}} IS NOT NULL AND NOT regexp_matches({{column}}, $regex)
ORDER BY rowid
LIMIT $limit;
