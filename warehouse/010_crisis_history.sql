-- Crisis history: who met a crisis rule on each night, so that a list published
-- one horizon ago can be checked against what happened (realised precision) and
-- a person in crisis then can be looked up again one horizon later. Written by
-- the measure stage (stratify/measures/stage.py), replaced for a night that runs
-- again. People only, no reasons. Idempotent.

CREATE TABLE IF NOT EXISTS crisis_history (
    as_of     DATE NOT NULL,
    person_id VARCHAR NOT NULL
);
