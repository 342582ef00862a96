-- Set (or change) one concurrency limit; the next claim of every worker reads
-- it. Returns the limit as it now stands.
INSERT INTO {limits} AS l (scope, key, max_running, updated_at)
VALUES (%(scope)s, %(key)s, %(max_running)s, now())
-- a limit of the same key changes in place
ON CONFLICT (scope, key) DO UPDATE
SET max_running = EXCLUDED.max_running,
    updated_at = now()
RETURNING l.scope, l.key, l.max_running
