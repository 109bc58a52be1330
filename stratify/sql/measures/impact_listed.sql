-- impact_listed: every published list entry (ranked lists and the other
-- sections), with the run's as-of date and the person's score then.
-- Output: rows. Grain: one row per (run_id, team, person_id).
-- Inputs: list_history.
SELECT as_of, team, person_id, tier, score, section
FROM list_history;
