-- {{target}}: one row per linked person and snapshot date, every feature as of
-- that date (the nightly run has one date, training one per month; training's
-- table is created TEMP, so it never reaches the warehouse file). With several
-- dates it is stored in (as_of, person_id) order, so one date's rows are a few
-- contiguous row groups (training reads one date at a time). The nightly build
-- has one date and no ORDER BY (features.py leaves it out): its rows are one
-- date in any order, and every reader orders or joins by person_id itself;
-- sorting ~130 columns cost 0.25-0.35 of ~2 CPU s here at 330,000 people.
-- People with no events get zero counts and 730 "days since" (two years or more).
-- Grain: one row per (snapshot date, person in {{persons}}).
-- Inputs: feature_dates, feat_agency, feat_event_counts, feat_smd, feat_household.
-- Those four are keyed by person_key, the person's rowid in {{persons}} (see known_events).

CREATE OR REPLACE {{table_kind}} TABLE {{target}} AS
WITH joined AS (
    SELECT
        p.person_id,
        d.as_of,
        p.team,
        p.household_id,
        p.sex,
        p.ethnic_group,
        p.died,
        CAST(datediff('month', strptime(p.birth_year_month || '-01', '%Y-%m-%d')::DATE, d.as_of) // 12 AS INTEGER) AS age_years,
        s.smd_domain_names_365d,
        a.* EXCLUDE (as_of, person_key),
        c.* EXCLUDE (as_of, person_key),
        s.* EXCLUDE (as_of, person_key, smd_domain_names_365d),
        h.* EXCLUDE (as_of, person_key)
    FROM {{persons}} AS p
    CROSS JOIN feature_dates AS d
    LEFT JOIN feat_agency AS a ON a.as_of = d.as_of AND a.person_key = p.rowid
    LEFT JOIN feat_event_counts AS c ON c.as_of = d.as_of AND c.person_key = p.rowid
    LEFT JOIN feat_smd AS s ON s.as_of = d.as_of AND s.person_key = p.rowid
    LEFT JOIN feat_household AS h ON h.as_of = d.as_of AND h.person_key = p.rowid
)
SELECT
    person_id,
    as_of,
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
                      AND c NOT IN ('person_id', 'as_of', 'team', 'household_id', 'sex', 'ethnic_group', 'died',
                                    'age_years', 'smd_domain_names_365d')), 0)
FROM joined
{{order_by}};
