-- Extend the leases of every command a worker holds (running, or claimed ahead),
-- in one statement, and write what its tools said of their progress since the
-- last beat (NULL: nothing new).
WITH r AS MATERIALIZED (
    SELECT *
    FROM unnest(%(execution_ids)b::bigint[], %(command_ids)b::bigint[], %(tokens)b::uuid[],
                %(progress)s::text[])
         AS r(execution_id, command_id, token, progress)
),
-- Lock the rows first, skipping any that another transaction holds (an
-- operator's SELECT … FOR UPDATE, a long write): waiting on one would let every
-- other lease of this worker run out behind it. A skipped row is extended at
-- the next beat; the worker learns which were skipped from what is missing.
held AS MATERIALIZED (
    SELECT c.execution_id, c.command_id
    FROM {command} AS c
    JOIN r ON c.execution_id = r.execution_id AND c.command_id = r.command_id
    FOR UPDATE OF c SKIP LOCKED
)
UPDATE {command} AS c
SET lease_expires_at = now() + %(lease)s,
    progress = coalesce(r.progress::jsonb, c.progress),
    updated_at = now()
FROM r
-- fenced row by row on its own claim token: a row claimed again, cancelled or
-- finished is not extended
WHERE {fence}
  AND (c.execution_id, c.command_id) IN (SELECT execution_id, command_id FROM held)
RETURNING c.command_id, c.execution_id
