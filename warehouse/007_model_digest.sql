-- Model digests: the sha256 of each saved model file, recorded when the model is
-- registered (stratify.model.registry.register). A model file is a pickle, which runs
-- code when it is loaded: a file whose digest is not the recorded one is refused before
-- it is unpickled. Models registered before digests were recorded have none and are
-- refused until a model is trained again. Idempotent.

ALTER TABLE models ADD COLUMN IF NOT EXISTS sha256 VARCHAR;
