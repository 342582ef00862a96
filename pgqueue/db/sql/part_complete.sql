-- (part of complete and complete_reported: the batched completion, as `c`,
-- returning each finished key)
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
WHERE {fence}
RETURNING c.command_id, c.execution_id
