"""The features stage: point-in-time features from `features/*.sql` (one night or many snapshots), and their names in plain English."""
