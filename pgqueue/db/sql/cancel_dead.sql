-- Never start a command of a finished execution: of the rows just claimed, the
-- ones whose execution is COMPLETED, FAILED or CANCELLED end CANCELLED, with
-- the reason (NoETL's own claim endpoint refuses them the same way).
UPDATE {command} AS c
SET status = 'CANCELLED',
    error = 'not started: execution ' || c.execution_id || ' is ' || e.status,
    completed_at = now(),
    lease_expires_at = NULL,
    claim_token = NULL,
    updated_at = now()
FROM unnest(%(execution_ids)b::bigint[], %(command_ids)b::bigint[], %(tokens)b::uuid[])
     AS r(execution_id, command_id, token)
-- each row's execution, by its primary key
JOIN {execution} AS e ON e.execution_id = r.execution_id
-- fenced: only rows still under this claim
WHERE {fence}
  AND upper(e.status) IN ('COMPLETED', 'FAILED', 'CANCELLED')
RETURNING c.command_id, c.execution_id
