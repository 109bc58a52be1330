-- baseline_persons (temporary): the people of baseline_known born by $as_of,
-- with `died` as of $as_of; person_key is their rowid in baseline_known, the
-- same in every year of one baseline.
-- Grain: one row per person. Input: baseline_known. Parameters: $as_of.

CREATE OR REPLACE TEMP TABLE baseline_persons AS
SELECT
    k.rowid AS person_key,
    k.person_id,
    k.household_id,
    k.birth_year_month,
    k.sex,
    k.ethnic_group,
    k.lsoa21,
    k.team,
    k.date_of_death,
    coalesce(k.date_of_death <= CAST($as_of AS DATE), false) AS died
FROM baseline_known AS k
WHERE k.birth_year_month <= strftime(CAST($as_of AS DATE), '%Y-%m');
