-- The list columns of the people in the temporary table cost_list_people (person_id):
-- cost_12m_gbp and assessments_12m from person_costs, and priorities, the ids of
-- the place's priorities the person falls under, '; '-separated in the order of
-- the configuration (priority_order: priority_id, position); household_cost_12m_gbp,
-- the cost of the person's whole household (one plan per family), for the pages.
-- Grain: one row per person in cost_list_people. Inputs: cost_list_people, person_costs,
-- household_costs, person_priorities, priority_order. household_cost_prev_12m_gbp:
-- the 365 days before, for the household's trend.

SELECT
    l.person_id,
    coalesce(c.cost_12m_gbp, 0) AS cost_12m_gbp,
    coalesce(c.assessments_12m, 0) AS assessments_12m,
    coalesce(h.cost_12m_gbp, c.cost_12m_gbp, 0) AS household_cost_12m_gbp,
    coalesce(h.cost_prev_12m_gbp, c.cost_prev_12m_gbp, 0) AS household_cost_prev_12m_gbp,
    coalesce((SELECT string_agg(p.priority_id, '; ' ORDER BY o.position)
              FROM person_priorities AS p JOIN priority_order AS o USING (priority_id)
              WHERE p.person_id = l.person_id), '') AS priorities
FROM cost_list_people AS l
LEFT JOIN person_costs AS c USING (person_id)
LEFT JOIN household_costs AS h ON h.household_id = c.household_id;
