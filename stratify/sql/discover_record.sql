-- discover_record: one deliveries row for an entry discovery found in the landing zone.
-- Output: the new delivery_id. Inputs: the row's values, bound as parameters (names, reasons; never a delivered value).
-- Parameters: $run, $source, $name, $sha, $size, $ddate, $seq, $received, $decision, $reason, $stored.
INSERT INTO deliveries (run_id, source, file_name, sha256, size_bytes, delivery_date, delivery_seq,
                        received_at, decision, reason, stored_path)
VALUES ($run, $source, $name, $sha, $size, $ddate, $seq, $received, $decision, $reason, $stored)
RETURNING delivery_id;
