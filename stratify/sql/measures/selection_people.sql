-- selection_people: everyone a list could have named tonight, with the groups
-- the selection rates are reported by, and whether they met a crisis rule.
-- Output: rows (not a table). Grain: one row per registered, living, not
-- opted-out person with a team (opted-out people never reach `persons`).
-- Inputs: persons, crisis. Parameters: $as_of. Age bands as features/90_feat_person.sql, in whole years.
SELECT
    p.person_id,
    p.team,
    coalesce(p.sex, 'U') AS sex,
    coalesce(p.ethnic_group, 'Z') AS ethnic_group,
    CASE
        WHEN age_years < 18 THEN '0-17'
        WHEN age_years < 25 THEN '18-24'
        WHEN age_years < 45 THEN '25-44'
        WHEN age_years < 65 THEN '45-64'
        ELSE '65+'
    END AS age_band,
    coalesce(c.in_crisis, false) AS in_crisis
FROM (
    SELECT *,
           -- whole years (integer division): `/` is a DOUBLE and a cast rounds it, making 17 years 6 months 18
           datediff('month', strptime(birth_year_month || '-01', '%Y-%m-%d')::DATE, $as_of::DATE) // 12 AS age_years
    FROM persons
    WHERE NOT died AND team IS NOT NULL
) AS p
LEFT JOIN crisis AS c USING (person_id);
