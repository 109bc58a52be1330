-- app_access_copy: the app's audit rows not yet in the warehouse, into access_log and app_access, oldest first.
-- Grain: one access_log row and one app_access row per app audit row (row_hash) not copied before.
-- Inputs: app_rows (the rows read from the app's SQLite database, registered by stratify.access.app_log),
--         app_access (what earlier nights copied). Parameters: $run_id.

INSERT INTO access_log (accessed_at, user_name, action, target, reason, n_people)
SELECT accessed_at, coalesce(user_name, '(not signed in)'), 'app.' || action, target,
       CASE WHEN allowed THEN detail ELSE 'refused: ' || detail END, NULL
FROM app_rows
WHERE row_hash NOT IN (SELECT row_hash FROM app_access)
ORDER BY app_seq;

INSERT INTO app_access (row_hash, app_seq, prev_hash, accessed_at, user_name, role, team, action, target, client,
                        allowed, detail, run_id)
SELECT row_hash, app_seq, prev_hash, accessed_at, user_name, role, team, action, target, client, allowed, detail,
       $run_id
FROM app_rows
WHERE row_hash NOT IN (SELECT row_hash FROM app_access)
ORDER BY app_seq;
