-- costed_events (temporary): every event of a person in {{persons}} dated on or
-- before $as_of, as known from deliveries on or before $known_at (current,
-- non-deleted rows only: a correction or retraction delivered later supersedes
-- the row, as the features read raw_events), priced with the place's unit-cost
-- table (temporary table unit_costs: type_key, source, event_type, agency_key
-- (0 health, 1 social_care, 2 housing, 3 police), cost_gbp, unit, is_handoff).
-- Rows carry the small type_key and agency_key instead of the source and type
-- strings, so every aggregate over them groups and filters on integers.
-- Grain: one row per (person, event). Inputs: raw_events, {{persons}}, unit_costs.
-- Parameters: $as_of, $known_at.
--
-- per_event: the cost once, in the 12 months if the event is dated in the 365
-- days ending on $as_of. per_day / per_week: the cost per day (per week / 7) of
-- the stay [event_date, stay_end): stay_end is end_date, else event_date +
-- length_of_stay_days, else (an open stay) $as_of or the person's death if
-- earlier; never after $as_of, and at least one day. Its 12-month part is the
-- days of the stay from $as_of - 364 on; cost_prev_12m is the same for the 365
-- days before those (the trend: this year against last). Stays of one kind (source and event
-- type) of one person that overlap are the same days: each stay is costed for
-- the days no earlier-starting stay of that kind already covered (a person is
-- in one temporary accommodation, one care package, at a time). A social care row whose role is
-- parent_carer is the parent's side of a child's case, costed once on the
-- child's own row: it costs 0 here (it still counts as a handoff).
-- person_key is {{persons}}'s own key (the nightly persons' rowid, as in
-- features/10_known_events.sql; the baseline's person_key).
-- As there, the join with {{persons}} is built on the people with the events as
-- the probe side (DuckDB's build-side optimizer would build on the events).

SET disabled_optimizers = 'build_side_probe_side';

CREATE OR REPLACE TEMP TABLE costed_events AS
WITH events AS (
    SELECT
        p.person_key,
        e.source,
        e.event_type,
        e.event_date,
        e.role,
        e.diagnosis_code,
        greatest(
            least(coalesce(e.end_date,
                           e.event_date + e.length_of_stay_days,
                           least(CAST($as_of AS DATE), coalesce(p.date_of_death, CAST($as_of AS DATE)))),
                  CAST($as_of AS DATE)),
            e.event_date + 1) AS stay_end
    FROM raw_events AS e
    JOIN {{persons}} AS p ON e.person_id = p.person_id
    WHERE e.delivered_on <= CAST($known_at AS DATE)
      AND (e.superseded_on IS NULL OR e.superseded_on > CAST($known_at AS DATE))
      AND e.event_date <= CAST($as_of AS DATE)
),
priced AS (
    SELECT
        ev.person_key,
        c.type_key,
        c.agency_key,
        ev.event_date,
        ev.role,
        ev.diagnosis_code,
        ev.stay_end,
        ev.event_date > CAST($as_of AS DATE) - 365 AS in_12m,
        CASE WHEN ev.source = 'social_care' AND ev.role = 'parent_carer' THEN 0.0 ELSE c.cost_gbp END AS unit_cost,
        c.unit,
        c.is_handoff
    FROM events AS ev
    JOIN unit_costs AS c ON c.source = ev.source AND c.event_type = ev.event_type
),
-- stays: the part [stay_from, stay_to) of each stay not covered by an earlier one of its kind
stays AS (
    SELECT
        * EXCLUDE (covered_to),
        greatest(event_date, coalesce(covered_to, event_date)) AS stay_from,
        greatest(stay_end, coalesce(covered_to, event_date)) AS stay_to
    FROM (
        SELECT *, max(stay_end) OVER (PARTITION BY person_key, type_key ORDER BY event_date, stay_end
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS covered_to
        FROM priced
        WHERE unit <> 'per_event'
    )
)
SELECT
    person_key, type_key, agency_key, event_date, role, diagnosis_code, in_12m, is_handoff,
    unit_cost AS cost_all,
    CASE WHEN in_12m THEN unit_cost ELSE 0.0 END AS cost_12m,
    CASE WHEN NOT in_12m AND event_date > CAST($as_of AS DATE) - 730 THEN unit_cost ELSE 0.0 END AS cost_prev_12m
FROM priced
WHERE unit = 'per_event'
UNION ALL
SELECT
    person_key, type_key, agency_key, event_date, role, diagnosis_code, in_12m, is_handoff,
    unit_cost * datediff('day', stay_from, stay_to) / CASE unit WHEN 'per_week' THEN 7.0 ELSE 1.0 END AS cost_all,
    unit_cost * greatest(0, datediff('day', greatest(stay_from, CAST($as_of AS DATE) - 364), stay_to))
        / CASE unit WHEN 'per_week' THEN 7.0 ELSE 1.0 END AS cost_12m,
    unit_cost * greatest(0, datediff('day', greatest(stay_from, CAST($as_of AS DATE) - 729),
                                     least(stay_to, CAST($as_of AS DATE) - 364)))
        / CASE unit WHEN 'per_week' THEN 7.0 ELSE 1.0 END AS cost_prev_12m
FROM stays;

RESET disabled_optimizers;
