-- An operator cancels commands that have not finished. A running worker sees
-- the new status at its next heartbeat and stops its tool.
UPDATE {command}
SET status = 'CANCELLED',
    completed_at = now(),
    lease_expires_at = NULL,
    claim_token = NULL,
    error = coalesce(%(reason)s, error),
    updated_at = now()
WHERE command_id = ANY(%(command_ids)s)
  AND (%(execution_id)s::bigint IS NULL OR execution_id = %(execution_id)s::bigint)
  -- finished commands stay as they are
  AND status IN ('PENDING', 'CLAIMED', 'RUNNING')
RETURNING execution_id, command_id
