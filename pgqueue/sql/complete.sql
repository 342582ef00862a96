-- Finish many commands in one statement, each with its own result.
UPDATE {command} AS c
SET status = 'COMPLETED',
    result = r.result,
    error = NULL,
    -- a command that finished before its batched RUNNING mark started when claimed
    started_at = coalesce(c.started_at, c.claimed_at),
    completed_at = now(),
    lease_expires_at = NULL,
    claim_token = NULL,
    updated_at = now()
FROM unnest(%(execution_ids)b::bigint[], %(command_ids)b::bigint[], %(tokens)b::uuid[],
            %(results)b::jsonb[])
     AS r(execution_id, command_id, token, result)
-- fenced: a stale worker whose row was claimed again writes nothing
WHERE c.execution_id = r.execution_id
  AND c.command_id = r.command_id
  AND c.claim_token = r.token
  -- the status test is a CASE on purpose: the planner cannot estimate it from
  -- statistics, which a queue makes stale at once (taken with nothing leased,
  -- they promise one leased row, and the write is then planned as a scan of
  -- the table with the input re-read for every row it finds: quadratic)
  AND CASE c.status WHEN 'CLAIMED' THEN true WHEN 'RUNNING' THEN true ELSE false END
RETURNING c.command_id, c.execution_id
