-- baseline_persons (temporary view): the people of baseline_known born by
-- $as_of (kept in the one-row table baseline_now), with `died` as of $as_of;
-- person_key is their rowid in baseline_known, the same in every year of one
-- baseline. A view, not a copy: each year reads it twice (its person table and
-- its priorities), and copying every person's strings cost more than that.
-- Grain: one row per person. Input: baseline_known. Parameters: $as_of.

CREATE OR REPLACE TEMP TABLE baseline_now AS SELECT CAST($as_of AS DATE) AS as_of;

CREATE OR REPLACE TEMP VIEW baseline_persons AS
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
    coalesce(k.date_of_death <= n.as_of, false) AS died
FROM baseline_known AS k
CROSS JOIN baseline_now AS n
WHERE k.birth_year_month <= strftime(n.as_of, '%Y-%m');
