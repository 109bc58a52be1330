-- {{target}}: one row per linked person, every feature as of $as_of.
-- People with no events get zero counts and 730 "days since" (two years or more).
-- Grain: one row per person in {{persons}}.
-- Inputs: feat_agency, feat_event_counts, feat_smd, feat_household.

CREATE OR REPLACE TABLE {{target}} AS
WITH joined AS (
    SELECT
        p.person_id,
        p.team,
        p.household_id,
        p.sex,
        p.ethnic_group,
        p.died,
        CAST(datediff('month', strptime(p.birth_year_month || '-01', '%Y-%m-%d')::DATE, CAST($as_of AS DATE)) / 12 AS INTEGER) AS age_years,
        s.smd_domain_names_365d,
        a.* EXCLUDE (person_id),
        c.* EXCLUDE (person_id),
        s.* EXCLUDE (person_id, smd_domain_names_365d),
        h.* EXCLUDE (person_id)
    FROM {{persons}} AS p
    LEFT JOIN feat_agency AS a USING (person_id)
    LEFT JOIN feat_event_counts AS c USING (person_id)
    LEFT JOIN feat_smd AS s USING (person_id)
    LEFT JOIN feat_household AS h USING (person_id)
)
SELECT
    person_id,
    CAST($as_of AS DATE) AS as_of,
    team,
    household_id,
    sex,
    ethnic_group,
    died,
    age_years,
    CASE
        WHEN age_years < 18 THEN '0-17'
        WHEN age_years < 25 THEN '18-24'
        WHEN age_years < 45 THEN '25-44'
        WHEN age_years < 65 THEN '45-64'
        ELSE '65+'
    END AS age_band,
    coalesce(smd_domain_names_365d, '') AS smd_domain_names_365d,
    coalesce(COLUMNS(lambda c: c LIKE '%\_days\_since\_last' ESCAPE '\'), 730),
    coalesce(COLUMNS(lambda c: c NOT LIKE '%\_days\_since\_last' ESCAPE '\'
                      AND c NOT IN ('person_id', 'team', 'household_id', 'sex', 'ethnic_group', 'died',
                                    'age_years', 'smd_domain_names_365d')), 0)
FROM joined;
