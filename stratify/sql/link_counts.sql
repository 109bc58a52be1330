-- link_counts: who the register holds tonight and why some are not listable.
-- Grain: one row. Inputs: register_known (persons.sql), persons.

SELECT
    (SELECT count(*) FROM register_known) AS registered,
    (SELECT count(*) FILTER (WHERE opted_out) FROM register_known) AS opted_out,
    (SELECT count(*) FROM persons WHERE died) AS died,
    (SELECT count(*) FROM persons WHERE team IS NULL) AS no_team,
    (SELECT count(*) FROM persons WHERE NOT died AND team IS NOT NULL) AS listable;
