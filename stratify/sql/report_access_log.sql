-- report_access_log: exports and re-identifications since $since (who, when, why, how many people), newest first.
-- Grain: one row per access_log entry. Inputs: access_log.
-- Parameters: $since (a UTC timestamp).

SELECT
    strftime(timezone('UTC', accessed_at), '%Y-%m-%d %H:%M UTC') AS accessed_utc,
    user_name,
    action,
    target,
    reason,
    n_people
FROM access_log
WHERE accessed_at >= $since
  AND action NOT LIKE 'app.%'  -- the web app's page views (copied by the app_access stage) are on the app's IG page
ORDER BY accessed_at DESC
