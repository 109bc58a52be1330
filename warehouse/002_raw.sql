-- Delivered rows, versioned by delivery so any past state can be reconstructed.
-- A row is known from `delivered_on` until `superseded_on` (a correction or a
-- deletion delivered later). Point-in-time reads filter on both.

CREATE TABLE IF NOT EXISTS raw_register (
    record_id        VARCHAR NOT NULL,
    person_id        VARCHAR NOT NULL,
    birth_year_month VARCHAR NOT NULL,
    sex              VARCHAR,
    ethnic_group     VARCHAR,
    lsoa21           VARCHAR,
    household_id     VARCHAR,
    date_of_death    DATE,
    opted_out        BOOLEAN NOT NULL,
    delivery_id      BIGINT NOT NULL,
    delivered_on     DATE NOT NULL,
    superseded_on    DATE,
    superseded_by    BIGINT
);

-- All event sources in one long table: the columns a source lacks are NULL.
CREATE TABLE IF NOT EXISTS raw_events (
    source              VARCHAR NOT NULL,
    record_id           VARCHAR NOT NULL,
    person_id           VARCHAR NOT NULL,
    event_date          DATE NOT NULL,
    event_type          VARCHAR NOT NULL,
    end_date            DATE,
    diagnosis_code      VARCHAR,
    length_of_stay_days INTEGER,
    role                VARCHAR,
    household_id        VARCHAR,
    amount_gbp          DECIMAL(12, 2),
    delivery_id         BIGINT NOT NULL,
    delivered_on        DATE NOT NULL,
    superseded_on       DATE,
    superseded_by       BIGINT
);

CREATE TABLE IF NOT EXISTS raw_outcomes (
    record_id     VARCHAR NOT NULL,
    person_id     VARCHAR NOT NULL,
    team          VARCHAR,
    event_date    DATE NOT NULL,
    outcome       VARCHAR,
    delivery_id   BIGINT NOT NULL,
    delivered_on  DATE NOT NULL,
    superseded_on DATE,
    superseded_by BIGINT
);
