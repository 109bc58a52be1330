-- overview_population: the people each team's list is drawn from (the overview's denominator).
-- Output: team, registered = people on the register as known tonight, alive, not opted
-- out (persons.sql leaves opted-out people out), living in the team's area.
-- Grain: one row per team with anyone registered. Inputs: persons. Parameters: none.

SELECT team, count(*) AS registered
FROM persons
WHERE team IS NOT NULL
  AND NOT died
GROUP BY team
ORDER BY team
