-- The tool starts: CLAIMED becomes RUNNING, for many commands at once.
UPDATE {command} AS c
SET status = 'RUNNING',
    started_at = now(),
    updated_at = now()
FROM unnest(%(execution_ids)b::bigint[], %(command_ids)b::bigint[], %(tokens)b::uuid[])
     AS r(execution_id, command_id, token)
-- fenced: a claim that was lost or cancelled is not ours to start
WHERE c.execution_id = r.execution_id
  AND c.command_id = r.command_id
  AND c.claim_token = r.token
  -- the status test is a CASE on purpose: the planner cannot estimate it from
  -- statistics, which a queue makes stale at once (taken with nothing leased,
  -- they promise one leased row, and the write is then planned as a scan of
  -- the table with the input re-read for every row it finds: quadratic)
  AND CASE c.status WHEN 'CLAIMED' THEN true ELSE false END
RETURNING c.command_id, c.execution_id
