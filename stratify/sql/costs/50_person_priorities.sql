-- {{target}}: which of the place's priorities each person falls under, as of
-- $as_of. The priorities come from the place configuration as small temporary
-- tables (stratify/priorities/cohorts.py): priority_list (priority_id,
-- n_criteria, include_died) and one table per kind of criterion, each row
-- naming its (priority_id, criterion_id): crit_age (min_age, max_age),
-- crit_event (source, event_type, window_days NULL = all history, min_count),
-- crit_domain (domain, window_days, min_count), crit_register (field, value),
-- crit_household (min_members, with_children, others_with_domains,
-- child_on_plan). A person is under a priority when every one of its criteria
-- holds; the dead only if include_died.
-- Grain: one row per (person, priority). Inputs: {{persons}} (its person_key),
-- costed_events, unit_costs (type_key), domain_map, the tables above.
-- Parameters: $as_of. Only events dated on or before $as_of count: the
-- baseline's costed_events holds its latest year's events for every year.
-- A household member's flags are semi-joins (IN), not a correlated EXISTS per member.

CREATE OR REPLACE TEMP TABLE priority_people AS
SELECT
    person_key,
    person_id,
    household_id,
    team,
    sex,
    ethnic_group,
    lsoa21,
    died,
    CAST(datediff('month', strptime(birth_year_month || '-01', '%Y-%m-%d')::DATE, CAST($as_of AS DATE)) // 12
         AS INTEGER) AS age_years
FROM {{persons}};

-- domain evidence per person (the configured mapping, domain_map, by type_key);
-- only when a priority asks for domains (its own or its household's)
CREATE OR REPLACE TEMP TABLE priority_domain_events AS
WITH domain_types AS (
    SELECT m.domain, c.type_key, m.role, m.icd10_from, m.icd10_to
    FROM domain_map AS m
    JOIN unit_costs AS c ON c.source = m.source AND (m.event_type IS NULL OR c.event_type = m.event_type)
)
SELECT DISTINCT ev.person_key, m.domain, datediff('day', ev.event_date, CAST($as_of AS DATE)) AS days_ago
FROM costed_events AS ev
JOIN domain_types AS m
  ON ev.type_key = m.type_key
 AND (m.role IS NULL OR ev.role = m.role)
 AND (m.icd10_from IS NULL
      OR (ev.diagnosis_code IS NOT NULL AND left(ev.diagnosis_code, 3) BETWEEN m.icd10_from AND m.icd10_to))
WHERE ev.event_date <= CAST($as_of AS DATE)
  AND (m.domain IN (SELECT domain FROM crit_domain)
       OR EXISTS (SELECT 1 FROM crit_household WHERE others_with_domains IS NOT NULL));

CREATE OR REPLACE TEMP TABLE priority_households AS
WITH member AS (
    SELECT
        pp.person_key,
        pp.household_id,
        pp.age_years < 18 AS child,
        pp.person_key IN (SELECT d.person_key FROM priority_domain_events AS d WHERE d.days_ago < 365)
            AS has_domain,
        pp.person_key IN (SELECT ev.person_key FROM costed_events AS ev JOIN unit_costs AS c USING (type_key)
                          WHERE c.source = 'social_care'
                            AND c.event_type IN ('child_in_need_start', 'child_protection_start', 'looked_after_start')
                            AND ev.event_date > CAST($as_of AS DATE) - 365
                            AND ev.event_date <= CAST($as_of AS DATE)) AS on_plan
    FROM priority_people AS pp
    WHERE pp.household_id IS NOT NULL AND NOT pp.died
      AND EXISTS (SELECT 1 FROM crit_household)
),
-- each household's counts once (a GROUP BY), then given to each member
household AS (
    SELECT household_id, count(*) AS members, count(*) FILTER (WHERE child) AS children,
           count(*) FILTER (WHERE has_domain) AS with_domain, count(*) FILTER (WHERE on_plan) AS on_plan
    FROM member
    GROUP BY household_id
)
SELECT
    m.person_key,
    h.members,
    h.children,
    h.with_domain - CAST(m.has_domain AS INTEGER) AS others_with_domains,
    h.on_plan
FROM member AS m
JOIN household AS h USING (household_id);

CREATE OR REPLACE TEMP TABLE priority_hits AS
SELECT c.priority_id, c.criterion_id, pp.person_key
FROM crit_age AS c
JOIN priority_people AS pp
  ON (c.min_age IS NULL OR pp.age_years >= c.min_age) AND (c.max_age IS NULL OR pp.age_years <= c.max_age)
UNION ALL
SELECT c.priority_id, c.criterion_id, ev.person_key
FROM crit_event AS c
JOIN unit_costs AS u ON u.source = c.source AND u.event_type = c.event_type
JOIN costed_events AS ev
  ON ev.type_key = u.type_key
 AND ev.event_date <= CAST($as_of AS DATE)
 AND (c.window_days IS NULL OR ev.event_date > CAST($as_of AS DATE) - c.window_days)
GROUP BY c.priority_id, c.criterion_id, ev.person_key, c.min_count
HAVING count(*) >= c.min_count
UNION ALL
SELECT c.priority_id, c.criterion_id, d.person_key
FROM crit_domain AS c
JOIN priority_domain_events AS d ON d.domain = c.domain AND d.days_ago < c.window_days
GROUP BY c.priority_id, c.criterion_id, d.person_key, c.min_count
HAVING count(DISTINCT d.domain) >= c.min_count
UNION ALL
SELECT c.priority_id, c.criterion_id, pp.person_key
FROM crit_register AS c JOIN priority_people AS pp ON c.field = 'sex' AND pp.sex = c.value
UNION ALL
SELECT c.priority_id, c.criterion_id, pp.person_key
FROM crit_register AS c JOIN priority_people AS pp ON c.field = 'ethnic_group' AND pp.ethnic_group = c.value
UNION ALL
SELECT c.priority_id, c.criterion_id, pp.person_key
FROM crit_register AS c JOIN priority_people AS pp ON c.field = 'lsoa21' AND pp.lsoa21 = c.value
UNION ALL
SELECT c.priority_id, c.criterion_id, pp.person_key
FROM crit_register AS c JOIN priority_people AS pp ON c.field = 'team' AND pp.team = c.value
UNION ALL
SELECT c.priority_id, c.criterion_id, h.person_key
FROM crit_household AS c
JOIN priority_households AS h
  ON (c.min_members IS NULL OR h.members >= c.min_members)
 AND (c.with_children IS NULL OR (h.children > 0) = c.with_children)
 AND (c.others_with_domains IS NULL OR h.others_with_domains >= c.others_with_domains)
 AND (c.child_on_plan IS NULL OR (h.on_plan > 0) = c.child_on_plan);

CREATE OR REPLACE {{table_kind}} TABLE {{target}} AS
SELECT pp.person_id, pp.household_id, pp.team, h.priority_id
FROM (
    SELECT priority_id, person_key, count(DISTINCT criterion_id) AS met
    FROM priority_hits
    GROUP BY priority_id, person_key
) AS h
JOIN priority_list AS l ON l.priority_id = h.priority_id
JOIN priority_people AS pp ON pp.person_key = h.person_key
WHERE h.met = l.n_criteria
  AND (l.include_died OR NOT pp.died);
