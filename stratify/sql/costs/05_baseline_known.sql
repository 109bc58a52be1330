-- baseline_known (temporary): the people of the register as known on
-- $known_at (latest row per person, not opted out, with the neighbourhood team
-- of that row: the rule of stratify/sql/persons.sql, without replacing the
-- nightly `persons`). Built once for every year of a baseline: each year's
-- people are those of them born by its date (06_baseline_persons.sql), so the
-- baseline of an earlier year counts the people known today as they were then
-- (in their current teams: the register keeps no history of moves before the
-- deliveries the warehouse holds). Its rowid is the person_key of every
-- baseline table.
-- Grain: one row per person. Inputs: raw_register, baseline_neighbourhoods (lsoa21, team).
-- Parameters: $known_at.

CREATE OR REPLACE TEMP TABLE baseline_known AS
WITH known AS (
    SELECT person_id, household_id, birth_year_month, sex, ethnic_group, lsoa21, date_of_death, opted_out
    FROM raw_register
    WHERE delivered_on <= CAST($known_at AS DATE)
      AND (superseded_on IS NULL OR superseded_on > CAST($known_at AS DATE))
    QUALIFY row_number() OVER (PARTITION BY person_id ORDER BY delivered_on DESC, delivery_id DESC) = 1
)
SELECT
    k.person_id,
    k.household_id,
    k.birth_year_month,
    k.sex,
    k.ethnic_group,
    k.lsoa21,
    n.team,
    k.date_of_death
FROM known AS k
LEFT JOIN baseline_neighbourhoods AS n USING (lsoa21)
WHERE NOT k.opted_out;
