-- A contract-valid person register of $people people for bench/bench_validate.py.
-- Grain: one row per person. Inputs: $people, $lsoas (the place's LSOA codes).
SELECT
    'R' || i AS record_id,
    sha256('p' || i) AS person_id,
    CAST(1930 + i % 90 AS VARCHAR) || '-' || lpad(CAST(1 + i % 12 AS VARCHAR), 2, '0') AS birth_year_month,
    ['F', 'M', 'X', 'U'][1 + CAST(i % 4 AS BIGINT)] AS sex,
    ['A', 'B', 'M', 'W', 'O', 'Z'][1 + CAST(i % 6 AS BIGINT)] AS ethnic_group,
    $lsoas[1 + CAST(i % len($lsoas) AS BIGINT)] AS lsoa21,
    sha256('h' || (i // 2)) AS household_id,
    CAST(NULL AS DATE) AS date_of_death,
    false AS opted_out,
    false AS deleted
FROM range($people) AS t(i)
