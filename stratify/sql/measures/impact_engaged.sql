-- impact_engaged: when each person was first recorded as `engaged`, and by which
-- team (an outcome without a team counts for the person's current team), as
-- known on $as_of.
-- Output: rows. Grain: one row per person ever engaged. Inputs: raw_outcomes, persons.
-- Parameters: $as_of.
SELECT o.person_id, coalesce(o.team, p.team) AS team, o.event_date AS engaged_on
FROM raw_outcomes AS o
JOIN persons AS p USING (person_id)
WHERE o.delivered_on <= CAST($as_of AS DATE)
  AND (o.superseded_on IS NULL OR o.superseded_on > CAST($as_of AS DATE))
  AND o.event_date <= CAST($as_of AS DATE)
  AND o.outcome = 'engaged'
QUALIFY row_number() OVER (PARTITION BY o.person_id ORDER BY o.event_date, o.delivered_on, o.record_id) = 1;
