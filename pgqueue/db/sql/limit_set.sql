-- Set (or change) one limit's levers; the next claim of every worker reads
-- them. A lever not given (NULL) keeps what it was. Returns the limit as it
-- now stands.
INSERT INTO {limits} AS l (scope, key, max_running, rate_count, rate_period, updated_at)
VALUES (%(scope)s, %(key)s, %(max_running)s, %(rate_count)s, %(rate_period)s, now())
-- a limit of the same key changes in place, lever by lever
ON CONFLICT (scope, key) DO UPDATE
SET max_running = coalesce(EXCLUDED.max_running, l.max_running),
    rate_count = coalesce(EXCLUDED.rate_count, l.rate_count),
    rate_period = coalesce(EXCLUDED.rate_period, l.rate_period),
    updated_at = now()
RETURNING l.scope, l.key, l.max_running, l.rate_count, l.rate_period
