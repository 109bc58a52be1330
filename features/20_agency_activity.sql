-- feat_agency: how much each agency has seen of a person, and how recently.
-- Counts over 30, 90 and 365 days; the trend compares the last 90 days with
-- the 275 before (as a rate per 90 days); days since the last event (NULL =
-- none in two years, filled with 730 in feat_person).
-- Grain: one row per (snapshot date, person_key) with any known event. Input: known_events.

CREATE OR REPLACE TEMP TABLE feat_agency AS
SELECT
    as_of,
    person_key,
    count(*) FILTER (WHERE days_ago < 365) AS all_events_365d,
    -- how many of the four agencies: a sum of per-agency flags, not count(DISTINCT source),
    -- which DuckDB runs as extra hash aggregates over every event row
    CAST(count(*) FILTER (WHERE source = 'health' AND days_ago < 365) > 0 AS BIGINT)
      + CAST(count(*) FILTER (WHERE source = 'social_care' AND days_ago < 365) > 0 AS BIGINT)
      + CAST(count(*) FILTER (WHERE source = 'housing' AND days_ago < 365) > 0 AS BIGINT)
      + CAST(count(*) FILTER (WHERE source = 'police' AND days_ago < 365) > 0 AS BIGINT) AS agencies_365d,
    CAST(count(*) FILTER (WHERE source = 'health' AND days_ago < 90) > 0 AS BIGINT)
      + CAST(count(*) FILTER (WHERE source = 'social_care' AND days_ago < 90) > 0 AS BIGINT)
      + CAST(count(*) FILTER (WHERE source = 'housing' AND days_ago < 90) > 0 AS BIGINT)
      + CAST(count(*) FILTER (WHERE source = 'police' AND days_ago < 90) > 0 AS BIGINT) AS agencies_90d,

    count(*) FILTER (WHERE source = 'health' AND days_ago < 30) AS health_events_30d,
    count(*) FILTER (WHERE source = 'health' AND days_ago < 90) AS health_events_90d,
    count(*) FILTER (WHERE source = 'health' AND days_ago < 365) AS health_events_365d,
    count(*) FILTER (WHERE source = 'health' AND days_ago < 90)
      - count(*) FILTER (WHERE source = 'health' AND days_ago BETWEEN 90 AND 364) * 90.0 / 275 AS health_trend_90d,
    min(days_ago) FILTER (WHERE source = 'health') AS health_days_since_last,

    count(*) FILTER (WHERE source = 'social_care' AND days_ago < 30) AS social_care_events_30d,
    count(*) FILTER (WHERE source = 'social_care' AND days_ago < 90) AS social_care_events_90d,
    count(*) FILTER (WHERE source = 'social_care' AND days_ago < 365) AS social_care_events_365d,
    count(*) FILTER (WHERE source = 'social_care' AND days_ago < 90)
      - count(*) FILTER (WHERE source = 'social_care' AND days_ago BETWEEN 90 AND 364) * 90.0 / 275 AS social_care_trend_90d,
    min(days_ago) FILTER (WHERE source = 'social_care') AS social_care_days_since_last,

    count(*) FILTER (WHERE source = 'housing' AND days_ago < 30) AS housing_events_30d,
    count(*) FILTER (WHERE source = 'housing' AND days_ago < 90) AS housing_events_90d,
    count(*) FILTER (WHERE source = 'housing' AND days_ago < 365) AS housing_events_365d,
    count(*) FILTER (WHERE source = 'housing' AND days_ago < 90)
      - count(*) FILTER (WHERE source = 'housing' AND days_ago BETWEEN 90 AND 364) * 90.0 / 275 AS housing_trend_90d,
    min(days_ago) FILTER (WHERE source = 'housing') AS housing_days_since_last,

    count(*) FILTER (WHERE source = 'police' AND days_ago < 30) AS police_events_30d,
    count(*) FILTER (WHERE source = 'police' AND days_ago < 90) AS police_events_90d,
    count(*) FILTER (WHERE source = 'police' AND days_ago < 365) AS police_events_365d,
    count(*) FILTER (WHERE source = 'police' AND days_ago < 90)
      - count(*) FILTER (WHERE source = 'police' AND days_ago BETWEEN 90 AND 364) * 90.0 / 275 AS police_trend_90d,
    min(days_ago) FILTER (WHERE source = 'police') AS police_days_since_last
FROM known_events
GROUP BY as_of, person_key;
