-- training_flags_open: the flags no training has answered yet, oldest first.
-- Output: rows. Grain: one row per (team, list_month). Inputs: training_flags.
SELECT run_id, as_of, team, list_month, reason
FROM training_flags
WHERE answered_by IS NULL
ORDER BY list_month, team;
