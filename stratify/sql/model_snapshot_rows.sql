-- One training snapshot's rows from feat_train (built for all snapshot dates at
-- once by stratify.features.build.build_feature_snapshots, stored in date order, so
-- this reads only that date's row groups), in person order so that row i is
-- the same person in every snapshot.
-- Grain: one row per person. Inputs: feat_train. Parameters: $as_of.

SELECT * FROM feat_train WHERE as_of = CAST($as_of AS DATE) ORDER BY person_id
