-- pulls: one row for a file seen at an agency's drop and what the pull stage did with it.
-- Inputs: the row's values, bound as parameters. Never a credential.
INSERT INTO pulls (run_id, source, location, remote_path, size_bytes, remote_mtime, sha256, pulled_at,
                   landing_path, outcome, deleted_at_source, detail)
VALUES ($run_id, $source, $location, $remote_path, $size_bytes, $remote_mtime, $sha256, $pulled_at,
        $landing_path, $outcome, $deleted_at_source, $detail);
