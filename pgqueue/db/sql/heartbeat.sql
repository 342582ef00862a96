-- Extend the leases of every command a worker is running, in one statement.
UPDATE {command} AS c
SET lease_expires_at = now() + %(lease)s,
    updated_at = now()
FROM unnest(%(execution_ids)b::bigint[], %(command_ids)b::bigint[], %(tokens)b::uuid[])
     AS r(execution_id, command_id, token)
-- fenced: a row claimed again, cancelled or finished is not extended, and its
-- absence from the result tells the worker it lost the lease
WHERE {fence}
RETURNING c.command_id, c.execution_id
