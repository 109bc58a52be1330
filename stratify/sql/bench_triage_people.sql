-- bench_triage_people: each linked person's integer entity id for dssg/triage (the wobbling benchmark),
-- so that triage's scores can be read back onto pseudonyms.
-- Output: entity_id, person_id. Grain: one row per person. Inputs: persons.
SELECT rowid::INTEGER AS entity_id, person_id FROM persons ORDER BY entity_id
