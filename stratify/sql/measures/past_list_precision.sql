-- past_list_precision: how good past lists were. For every published list at
-- least one horizon old ($horizon_months before $as_of), by team and the run's
-- month, counting people (not list entries: a person on thirty nightly lists
-- of a month counts once, from the first list of the month that showed them):
-- of the month's wobbling people, how many met a crisis rule on a night within
-- the horizon after that list (realised precision at capacity), beside what
-- the model promised then (the mean of their scores on that list: the share
-- the calibrated model expected); and of its people in crisis, how many still
-- were on the night nearest one horizon later (within 15 days).
-- Output: rows. Grain: one row per (team, month of the run).
-- Inputs: list_history (published runs only), crisis_history, runs (the model each list was scored with).
-- Parameters: $as_of, $horizon_months.
WITH old_lists AS (
    SELECT h.run_id, h.as_of, h.team, h.person_id, h.tier, h.score, r.model_version
    FROM list_history AS h
    LEFT JOIN runs AS r USING (run_id)
    WHERE h.section = 'listed'
      AND h.as_of + to_months(CAST($horizon_months AS INTEGER)) <= CAST($as_of AS DATE)
),
firsts AS (  -- each person's first list of the month, per tier
    SELECT team, CAST(date_trunc('month', as_of) AS DATE) AS month, person_id, tier,
           min(as_of) AS listed_on, arg_min(score, as_of) AS score
    FROM old_lists
    GROUP BY ALL
),
list_days AS (SELECT DISTINCT listed_on FROM firsts),
nights AS (SELECT DISTINCT as_of FROM crisis_history),
observed AS (  -- nights with a crisis record within the horizon after each list
    SELECT d.listed_on, count(n.as_of) AS nights
    FROM list_days AS d
    LEFT JOIN nights AS n
      ON n.as_of > d.listed_on AND n.as_of <= d.listed_on + to_months(CAST($horizon_months AS INTEGER))
    GROUP BY d.listed_on
),
later_night AS (
    SELECT d.listed_on, arg_min(n.as_of, abs(datediff('day', n.as_of,
               d.listed_on + to_months(CAST($horizon_months AS INTEGER))))) AS night
    FROM list_days AS d
    JOIN nights AS n
      ON abs(datediff('day', n.as_of, d.listed_on + to_months(CAST($horizon_months AS INTEGER)))) <= 15
    GROUP BY d.listed_on
),
judged AS (
    SELECT
        f.*,
        o.nights,
        ln.night AS later_night,
        EXISTS (SELECT 1 FROM crisis_history AS c
                WHERE c.person_id = f.person_id AND c.as_of > f.listed_on
                  AND c.as_of <= f.listed_on + to_months(CAST($horizon_months AS INTEGER))) AS met_crisis,
        EXISTS (SELECT 1 FROM crisis_history AS c
                WHERE c.person_id = f.person_id AND c.as_of = ln.night) AS still_in_crisis
    FROM firsts AS f
    JOIN observed AS o USING (listed_on)
    LEFT JOIN later_night AS ln USING (listed_on)
),
lists AS (
    SELECT team, CAST(date_trunc('month', as_of) AS DATE) AS month, count(DISTINCT run_id) AS lists,
           string_agg(DISTINCT model_version, ', ' ORDER BY model_version) AS model_versions
    FROM old_lists
    GROUP BY ALL
)
SELECT
    j.team,
    j.month,
    any_value(l.lists) AS lists,
    any_value(l.model_versions) AS model_versions,
    min(j.nights) AS fewest_nights_observed,
    count(*) FILTER (WHERE j.tier = 'wobbling') AS wobbling,
    count(*) FILTER (WHERE j.tier = 'wobbling' AND j.met_crisis) AS wobbling_met_crisis,
    avg(j.score) FILTER (WHERE j.tier = 'wobbling') AS promised_precision,
    count(*) FILTER (WHERE j.tier = 'crisis' AND j.later_night IS NOT NULL) AS crisis_followed,
    count(*) FILTER (WHERE j.tier = 'crisis' AND j.later_night IS NOT NULL AND j.still_in_crisis) AS crisis_still
FROM judged AS j
JOIN lists AS l USING (team, month)
GROUP BY j.team, j.month
ORDER BY j.team, j.month;
