-- training_flags_save: tonight's shortfalls of past lists become flags for the
-- next training. Open flags whose (team, month) is not short tonight are
-- withdrawn; a (team, month) flagged before, open or answered, is not flagged
-- again. Output: training_flags rows. Grain: (team, list_month).
-- Inputs: training_flags. Parameters: $run_id, $as_of, $teams, $months, $reasons
-- (three lists of the same length: one entry per shortfall).
DELETE FROM training_flags
WHERE answered_by IS NULL
  AND (team, list_month) NOT IN (
      SELECT (unnest(CAST($teams AS VARCHAR[])), unnest(CAST($months AS DATE[]))));
INSERT INTO training_flags
SELECT $run_id, CAST($as_of AS DATE), now(), s.team, s.list_month, s.reason, NULL
FROM (SELECT unnest(CAST($teams AS VARCHAR[])) AS team, unnest(CAST($months AS DATE[])) AS list_month,
             unnest(CAST($reasons AS VARCHAR[])) AS reason) AS s
WHERE NOT EXISTS (SELECT 1 FROM training_flags AS f WHERE f.team = s.team AND f.list_month = s.list_month);
