-- After a claim under a rate, in its transaction (it sees the starts the claim
-- wrote, and still holds the claim lock): age out the starts no window counts
-- any more, and say in how many seconds the first rate that is full now lets
-- a command start again (NULL: none is full), for the worker to sleep until
-- then rather than poll.
WITH
-- each start with its key's rate (part_rate_allowed.sql, part_rate_window.sql)
windowed AS MATERIALIZED (
    SELECT s.key, s.started_at, {rate_allowed} AS allowed, {rate_window} AS period
    FROM {starts} AS s
),
-- the starts out of every window (or of a key no rate names any more): gone
aged AS (
    DELETE FROM {starts} AS s
    WHERE (s.started_at > now() - {rate_window}) IS NOT TRUE
),
-- each key's starts in its window now
keys AS (
    SELECT key, count(*) AS started, min(started_at) AS first, min(allowed) AS allowed,
           min(period) AS period
    FROM windowed
    WHERE started_at > now() - period
    GROUP BY key
)
-- when the oldest start of a full window leaves it, the next start may come
SELECT extract(epoch FROM min(first + period) - now())::float8 AS seconds
FROM keys
WHERE started >= allowed
