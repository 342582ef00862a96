-- Extend the leases of every command a worker is running, in one statement.
UPDATE {command} AS c
SET lease_expires_at = now() + %(lease)s,
    updated_at = now()
FROM unnest(%(execution_ids)b::bigint[], %(command_ids)b::bigint[], %(tokens)b::uuid[])
     AS r(execution_id, command_id, token)
-- fenced: a row claimed again, cancelled or finished is not extended, and its
-- absence from the result tells the worker it lost the lease
WHERE c.execution_id = r.execution_id
  AND c.command_id = r.command_id
  AND c.claim_token = r.token
  -- the status test is a CASE on purpose: the planner cannot estimate it from
  -- statistics, which a queue makes stale at once (taken with nothing leased,
  -- they promise one leased row, and the write is then planned as a scan of
  -- the table with the input re-read for every row it finds: quadratic)
  AND CASE c.status WHEN 'CLAIMED' THEN true WHEN 'RUNNING' THEN true ELSE false END
RETURNING c.command_id, c.execution_id
