-- list_candidates: everyone a team could list tonight: scored, listable (alive,
-- in a team's area, not opted out) and in the crisis or wobbling tier, with what
-- the lists show about them. Ordering, households, outcomes and capacity are
-- applied in stratify/lists.py (pure, tested); ORDER BY only makes the frame
-- reproducible.
-- Grain: one row per tiered person. Inputs: scores, persons, feat_person.

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
FROM scores AS s
JOIN persons AS p USING (person_id)
JOIN feat_person AS f USING (person_id)
WHERE s.tier IN ('crisis', 'wobbling')
  AND NOT p.died
  AND p.team IS NOT NULL
ORDER BY s.team, s.person_id;
