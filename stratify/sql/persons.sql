-- persons: the register as known on $as_of, latest row per person, with the
-- person's neighbourhood team. Opted-out people are left out here, before any
-- linking, and only counted (see link.py). Parameters: $as_of.

-- register_known (temporary): the latest known register row of each person,
-- opted out or not; link_counts.sql counts from it too, so the window over the
-- whole register runs once a night.
CREATE OR REPLACE TEMP TABLE register_known AS
SELECT person_id, household_id, birth_year_month, sex, ethnic_group, lsoa21, date_of_death, opted_out
FROM raw_register
WHERE delivered_on <= $as_of
  AND (superseded_on IS NULL OR superseded_on > $as_of)
QUALIFY row_number() OVER (PARTITION BY person_id ORDER BY delivered_on DESC, delivery_id DESC) = 1;

CREATE OR REPLACE TABLE persons AS
SELECT
    k.person_id,
    k.household_id,
    k.birth_year_month,
    k.sex,
    k.ethnic_group,
    k.lsoa21,
    n.team,
    k.date_of_death,
    coalesce(k.date_of_death <= $as_of, false) AS died
FROM register_known AS k
LEFT JOIN neighbourhoods AS n USING (lsoa21)
WHERE NOT k.opted_out;
