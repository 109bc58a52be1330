-- list_candidates: everyone a team could list tonight, in list order: the
-- crisis tier first (most rules met, then most contacts in 90 days), then the
-- wobbling tier by score; ties broken by pseudonym so lists are reproducible.
-- Grain: one row per scored person with a tier. Inputs: scores, persons, feat_person.

SELECT
    s.team,
    s.person_id,
    p.household_id,
    s.tier,
    s.score,
    s.reasons,
    concat_ws('; ',
        CASE WHEN f.health_events_365d > 0 THEN 'health' END,
        CASE WHEN f.social_care_events_365d > 0 THEN 'social_care' END,
        CASE WHEN f.housing_events_365d > 0 THEN 'housing' END,
        CASE WHEN f.police_events_365d > 0 THEN 'police' END
    ) AS agencies
FROM scores AS s
JOIN persons AS p USING (person_id)
JOIN feat_person AS f USING (person_id)
WHERE s.tier IN ('crisis', 'wobbling')
ORDER BY
    s.team,
    s.tier = 'crisis' DESC,
    CASE WHEN s.tier = 'crisis' THEN s.severity ELSE 0 END DESC,
    s.score DESC,
    s.person_id;
