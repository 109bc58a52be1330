-- past_list_precision: how good past lists were. For every published list at
-- least one horizon old ($horizon_months before $as_of), by team and the run's
-- month: of its wobbling people, how many met a crisis rule on a night within
-- the horizon after the list (realised precision at capacity), beside what the
-- model promised then (the mean score of those people: the expected share);
-- and of its people in crisis, how many still were on the night nearest one
-- horizon later (within 15 days).
-- Output: rows. Grain: one row per (team, month of the run).
-- Inputs: list_history (published runs only), crisis_history.
-- Parameters: $as_of, $horizon_months.
WITH old_lists AS (
    SELECT run_id, as_of, team, person_id, tier, score
    FROM list_history
    WHERE section = 'listed'
      AND as_of + to_months(CAST($horizon_months AS INTEGER)) <= CAST($as_of AS DATE)
),
nights AS (SELECT DISTINCT as_of FROM crisis_history),
observed AS (
    SELECT l.run_id, count(*) AS nights
    FROM (SELECT DISTINCT run_id, as_of FROM old_lists) AS l
    JOIN nights AS n
      ON n.as_of > l.as_of AND n.as_of <= l.as_of + to_months(CAST($horizon_months AS INTEGER))
    GROUP BY l.run_id
),
later_night AS (
    SELECT l.run_id, arg_min(n.as_of, abs(datediff('day', n.as_of,
               l.as_of + to_months(CAST($horizon_months AS INTEGER))))) AS night
    FROM (SELECT DISTINCT run_id, as_of FROM old_lists) AS l
    JOIN nights AS n
      ON abs(datediff('day', n.as_of, l.as_of + to_months(CAST($horizon_months AS INTEGER)))) <= 15
    GROUP BY l.run_id
),
judged AS (
    SELECT
        l.*,
        EXISTS (SELECT 1 FROM crisis_history AS c
                WHERE c.person_id = l.person_id AND c.as_of > l.as_of
                  AND c.as_of <= l.as_of + to_months(CAST($horizon_months AS INTEGER))) AS met_crisis,
        EXISTS (SELECT 1 FROM crisis_history AS c JOIN later_night AS ln ON ln.run_id = l.run_id
                WHERE c.person_id = l.person_id AND c.as_of = ln.night) AS still_in_crisis,
        (SELECT night FROM later_night AS ln WHERE ln.run_id = l.run_id) AS later_night
    FROM old_lists AS l
)
SELECT
    team,
    CAST(date_trunc('month', as_of) AS DATE) AS month,
    count(DISTINCT run_id) AS lists,
    min(coalesce(o.nights, 0)) AS fewest_nights_observed,
    count(*) FILTER (WHERE tier = 'wobbling') AS wobbling,
    count(*) FILTER (WHERE tier = 'wobbling' AND met_crisis) AS wobbling_met_crisis,
    avg(score) FILTER (WHERE tier = 'wobbling') AS promised_precision,
    count(*) FILTER (WHERE tier = 'crisis' AND later_night IS NOT NULL) AS crisis_followed,
    count(*) FILTER (WHERE tier = 'crisis' AND later_night IS NOT NULL AND still_in_crisis) AS crisis_still
FROM judged
LEFT JOIN observed AS o USING (run_id)
GROUP BY ALL
ORDER BY team, month;
