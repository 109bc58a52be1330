-- The first data rows (1-based, file order) whose {{column}} value occurs more
-- than once in the delivery (every occurrence counts, as in GX).
-- Inputs: stratify_work.delivery; $limit.

SELECT rowid + 1 AS data_row
FROM stratify_work.delivery
WHERE {{column}} IN (
    SELECT {{column}} FROM stratify_work.delivery
    WHERE {{column}} IS NOT NULL
    GROUP BY {{column}}
    HAVING count(*) > 1
)
ORDER BY rowid
LIMIT $limit;
