-- Training flags: past lists whose wobbling people met a crisis rule less often
-- than the model promised, by more than `measures.precision_margin`. Written by
-- the measure stage (stratify/measures/stage.py) when it finds one, so that the
-- next training knows: the model registry shows the open flags on the new
-- model's card and marks them answered by that model (`answered_by`). One row
-- per (team, month of the lists); a month flagged once is never flagged again.
-- An open flag whose month no longer falls short (later nights' crisis records
-- came in) is withdrawn. Idempotent.

CREATE TABLE IF NOT EXISTS training_flags (
    run_id      VARCHAR NOT NULL,       -- the run that raised it
    as_of       DATE NOT NULL,
    flagged_at  TIMESTAMPTZ NOT NULL,
    team        VARCHAR NOT NULL,
    list_month  DATE NOT NULL,          -- the month of the lists that fell short
    reason      VARCHAR NOT NULL,       -- one sentence, as in the run's status
    answered_by VARCHAR                 -- the model_version trained after it; NULL while open
);
