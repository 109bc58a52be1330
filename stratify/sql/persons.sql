-- persons: the register as known on $as_of, latest row per person, with the
-- person's neighbourhood team. Opted-out people are left out here, before any
-- linking, and only counted (see link.py). Parameters: $as_of.

CREATE OR REPLACE TABLE persons AS
WITH known AS (
    SELECT *
    FROM raw_register
    WHERE delivered_on <= $as_of
      AND (superseded_on IS NULL OR superseded_on > $as_of)
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
    k.date_of_death,
    coalesce(k.date_of_death <= $as_of, false) AS died
FROM known AS k
LEFT JOIN neighbourhoods AS n USING (lsoa21)
WHERE NOT k.opted_out;
