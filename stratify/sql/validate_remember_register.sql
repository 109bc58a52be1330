-- validate_remember_register: keep the live pseudonyms of a register delivery
-- accepted in this run, so that later deliveries of the run are checked
-- against it before it is loaded. Rows it retracts (deleted = true) do not count.
-- Grain: one row per distinct person_id. Inputs: stratify_work.delivery.

INSERT INTO stratify_work.run_register_ids
SELECT DISTINCT person_id
FROM stratify_work.delivery
WHERE person_id IS NOT NULL AND coalesce(deleted, 'false') <> 'true';
