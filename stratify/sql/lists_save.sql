-- lists_save: tonight's lists, as the rank stage built them, for publish to render.
-- Output: `lists`, one row per person a team is shown tonight, in a section:
--   listed           the ranked list (rank 1..n within the team's capacity)
--   already_working  the team recorded engaged / already_supported recently
--   snoozed          the team recorded declined / not_appropriate recently (until `until`)
--   dropped          on the team's previous published list, not on tonight's (previous_*, drop_*)
-- and `list_teams`, one row per configured team: its capacity, whether it had a
-- published list before, and its counts. Both are rebuilt each run (CREATE OR
-- REPLACE, like `scores`) and carry the run's id, so publish never renders
-- another run's lists.
-- Grain: lists: (team, section, position); list_teams: team.
-- Inputs: lists_in, list_teams_in (registered by stratify/lists/table.py). Parameters: $run_id.

CREATE OR REPLACE TABLE lists AS
SELECT
    CAST($run_id AS VARCHAR)          AS run_id,
    CAST(team AS VARCHAR)             AS team,
    CAST(section AS VARCHAR)          AS section,
    CAST(position AS INTEGER)         AS position,        -- order within the team's section, 1..n
    CAST(rank AS INTEGER)             AS rank,            -- section listed only
    CAST(person_id AS VARCHAR)        AS person_id,
    CAST(household_id AS VARCHAR)     AS household_id,
    CAST(tier AS VARCHAR)             AS tier,            -- crisis | wobbling (not for dropped)
    CAST(score AS DOUBLE)             AS score,
    CAST(reasons AS VARCHAR)          AS reasons,         -- crisis: the rules' reasons; wobbling: the model's
    CAST(change AS VARCHAR)           AS change,          -- new | up | down | same (listed only)
    CAST(agencies AS VARCHAR)         AS agencies,
    CAST(household_rank AS INTEGER)   AS household_rank,  -- listed only: the household's place, 1 = first
    CAST(household_tier AS VARCHAR)   AS household_tier,  -- listed only: the tier of its first member
    CAST(household_listed AS INTEGER) AS household_listed,
    CAST(household_members AS BIGINT) AS household_members,
    CAST(outcome AS VARCHAR)          AS outcome,         -- already_working / snoozed: the status outcome
    CAST(outcome_date AS VARCHAR)     AS outcome_date,    -- ISO date, '' when none
    CAST(until AS VARCHAR)            AS until,           -- snoozed: ISO date the snooze ends
    CAST(note AS VARCHAR)             AS note,
    CAST(last_outcome AS VARCHAR)     AS last_outcome,    -- listed: the latest outcome recorded, '' when none
    CAST(last_outcome_date AS VARCHAR) AS last_outcome_date,
    CAST(previous_rank AS INTEGER)    AS previous_rank,   -- dropped: as on the previous list
    CAST(previous_tier AS VARCHAR)    AS previous_tier,
    CAST(previous_score AS DOUBLE)    AS previous_score,
    CAST(drop_reason AS VARCHAR)      AS drop_reason,     -- dropped: died, left the register, moved team, ...
    CAST(drop_detail AS VARCHAR)      AS drop_detail,
    -- listed / already_working / snoozed: from the costs stage (stratify/costs/list_columns.py)
    CAST(cost_12m_gbp AS DECIMAL(14, 2))  AS cost_12m_gbp,      -- the person's cost in the 365 days to the as-of date
    CAST(assessments_12m AS INTEGER)      AS assessments_12m,   -- their handoffs in those days
    CAST(priorities AS VARCHAR)           AS priorities,        -- '; '-separated priority ids, config order
    CAST(household_cost_12m_gbp AS DECIMAL(14, 2))      AS household_cost_12m_gbp,       -- the household's, same days
    CAST(household_cost_prev_12m_gbp AS DECIMAL(14, 2)) AS household_cost_prev_12m_gbp,  -- the 365 days before
    -- crisis: the crisis rules met (in millions) then contacts, as scoring ordered them (publish.people.crisis_rules_met)
    CAST(severity AS DOUBLE)          AS severity
FROM lists_in;

CREATE OR REPLACE TABLE list_teams AS
SELECT
    CAST($run_id AS VARCHAR)            AS run_id,
    CAST(team AS VARCHAR)               AS team,
    CAST(capacity AS INTEGER)           AS capacity,
    CAST(previous_published AS BOOLEAN) AS previous_published,
    CAST(listed_crisis AS INTEGER)      AS listed_crisis,
    CAST(listed_wobbling AS INTEGER)    AS listed_wobbling,
    CAST(already_working AS INTEGER)    AS already_working,
    CAST(snoozed AS INTEGER)            AS snoozed,
    CAST(dropped AS INTEGER)            AS dropped,
    CAST("new" AS INTEGER)              AS "new",
    CAST(over_capacity_crisis AS INTEGER)   AS over_capacity_crisis,    -- tiered, not taken off, not listed: the list was full
    CAST(over_capacity_wobbling AS INTEGER) AS over_capacity_wobbling
FROM list_teams_in;
