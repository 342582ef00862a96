-- An operator cancels commands that have not finished. A running worker sees
-- the new status at its next heartbeat and stops its tool.
UPDATE {command}
SET status = 'CANCELLED',
    completed_at = now(),
    lease_expires_at = NULL,
    claim_token = NULL,
    error = coalesce(%(reason)s, error),
    updated_at = now()
-- finished commands stay as they are
WHERE status IN ('PENDING', 'CLAIMED', 'RUNNING')
  -- each filter applies only when given (the caller gives at least one)
  AND (%(command_ids)s::bigint[] IS NULL OR command_id = ANY(%(command_ids)s::bigint[]))
  AND (%(execution_id)s::bigint IS NULL OR execution_id = %(execution_id)s::bigint)
  AND (%(tool_kind)s::text IS NULL OR tool_kind = %(tool_kind)s::text)
  AND (%(step)s::text IS NULL OR step_name = %(step)s::text)
RETURNING execution_id, command_id
