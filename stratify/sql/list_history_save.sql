-- list_history_save: record tonight's published list rows (from `list_history_in`,
-- registered by the caller), replacing any rows of the same run.
-- Inputs: list_history_in. Parameters: $run_id, $as_of, $published_at.

DELETE FROM list_history WHERE run_id = $run_id;

INSERT INTO list_history (run_id, as_of, published_at, team, person_id, section, tier, score, rank, change)
SELECT $run_id, CAST($as_of AS DATE), CAST($published_at AS TIMESTAMPTZ), team, person_id, section, tier,
       score, CAST(rank AS INTEGER), change
FROM list_history_in;
