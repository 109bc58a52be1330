-- list_trends: how many people each of the last $runs published runs showed each
-- team, by section and tier (for the place overview; suppressed before display).
-- Grain: one row per (run, team, section, tier). Inputs: list_history.
-- Parameters: $runs.

WITH recent AS (
    SELECT run_id, max(as_of) AS as_of, max(published_at) AS published_at
    FROM list_history
    GROUP BY run_id
    ORDER BY published_at DESC
    LIMIT CAST($runs AS INTEGER)
)
SELECT r.run_id, r.as_of, r.published_at, h.team, h.section, h.tier, count(*) AS people,
       count(*) FILTER (WHERE h.change = 'new') AS new_people
FROM list_history AS h
JOIN recent AS r USING (run_id)
GROUP BY ALL
ORDER BY r.published_at, h.team, h.section, h.tier;
