-- crisis_history_save: tonight's people in crisis, replacing any earlier run of the same night.
-- Output: crisis_history rows for $as_of. Grain: (as_of, person_id). Inputs: crisis.
-- Parameters: $as_of.
DELETE FROM crisis_history WHERE as_of = CAST($as_of AS DATE);
INSERT INTO crisis_history
SELECT CAST($as_of AS DATE), person_id FROM crisis WHERE in_crisis;
