-- list_candidates: everyone a team could list tonight: scored, listable (alive,
-- in a team's area, not opted out) and in the crisis or wobbling tier, with what
-- the lists show about them. Ordering, households, outcomes and capacity are
-- applied in stratify/lists/rank.py (pure, tested); ORDER BY only makes the frame
-- reproducible.
-- Grain: one row per tiered person. Inputs: scores, persons, feat_person.
-- The tiered people (a few percent) are taken first and the other tables cut to them:
-- joined whole, DuckDB built its hash table on all of `persons` (2.6 s at 3,000,000
-- people, 1.3 s now).

WITH tiered AS MATERIALIZED (
    SELECT team, person_id, tier, score, severity, reasons
    FROM scores
    WHERE tier IN ('crisis', 'wobbling')
),
people AS MATERIALIZED (
    SELECT p.person_id, p.household_id
    FROM persons AS p
    SEMI JOIN tiered AS t ON p.person_id = t.person_id
    WHERE NOT p.died
      AND p.team IS NOT NULL
),
features AS MATERIALIZED (
    SELECT f.person_id, f.health_events_365d, f.social_care_events_365d, f.housing_events_365d,
           f.police_events_365d, f.household_members
    FROM feat_person AS f
    SEMI JOIN people AS p ON f.person_id = p.person_id
)
SELECT
    s.team,
    s.person_id,
    p.household_id,
    s.tier,
    s.score,
    s.severity,
    s.reasons,
    concat_ws('; ',
        CASE WHEN f.health_events_365d > 0 THEN 'health' END,
        CASE WHEN f.social_care_events_365d > 0 THEN 'social_care' END,
        CASE WHEN f.housing_events_365d > 0 THEN 'housing' END,
        CASE WHEN f.police_events_365d > 0 THEN 'police' END
    ) AS agencies,
    f.household_members
FROM tiered AS s
JOIN people AS p USING (person_id)
JOIN features AS f USING (person_id)
ORDER BY s.team, s.person_id;
