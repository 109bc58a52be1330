-- training_flags_answer: a newly registered model answers every open flag.
-- Output: training_flags rows updated. Inputs: training_flags. Parameters: $model_version.
UPDATE training_flags SET answered_by = $model_version WHERE answered_by IS NULL;
