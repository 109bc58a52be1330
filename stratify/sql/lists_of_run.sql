-- lists_of_run: the rows of `lists` for one section of one run, in their order,
-- for publish to render (see lists_save.sql for the columns).
-- Grain: one row per (team, position). Inputs: lists. Parameters: $run_id, $section.

SELECT *
FROM lists
WHERE run_id = $run_id
  AND section = $section
ORDER BY team, position;
