-- List history: who each published run showed to each team, and in which section.
-- Written by stratify.publish after `latest` is switched, so only published runs
-- appear. Read back for snoozing (the tier a person had when a team declined them)
-- and for the place overview's trends. Idempotent.

CREATE TABLE IF NOT EXISTS list_history (
    run_id       VARCHAR NOT NULL,
    as_of        DATE NOT NULL,
    published_at TIMESTAMPTZ NOT NULL,
    team         VARCHAR NOT NULL,
    person_id    VARCHAR NOT NULL,
    section      VARCHAR NOT NULL,   -- listed | already_working | snoozed
    tier         VARCHAR NOT NULL,   -- crisis | wobbling
    score        DOUBLE,
    rank         INTEGER,            -- on the ranked list (section listed), else NULL
    change       VARCHAR             -- new | up | down | same (section listed), else NULL
);
