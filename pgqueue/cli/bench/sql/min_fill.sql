-- %(rows)s pending rows on the minimal table, each with an empty payload.
INSERT INTO {command} (payload)
SELECT '{{}}'
FROM generate_series(1, %(rows)s)
