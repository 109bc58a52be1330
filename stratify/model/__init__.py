"""The wobbling model: training snapshots, candidates and promotion, the typed bundle and its registry (digest-checked), prediction, explanations, evaluation and the model card."""
