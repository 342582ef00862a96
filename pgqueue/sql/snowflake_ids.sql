-- %(count)s fresh ids from the table's snowflake generator, in one round trip.
SELECT {snowflake}() FROM generate_series(1, %(count)s)
