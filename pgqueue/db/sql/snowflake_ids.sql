-- %(count)s fresh ids from the table's snowflake generator, in one round trip,
-- as one comma-separated text: the client splits it in C instead of parsing a
-- row per id, and COPY sends the ids on as text (their order does not matter).
SELECT string_agg({snowflake}()::text, ',')
FROM generate_series(1, %(count)s)
