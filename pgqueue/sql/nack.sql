-- nack of a Claimed or Failed outcome: the attempt is spent. Either due again
-- after a backoff, or parked as FAILED (the dead letter) with the reason.
UPDATE {command}
SET attempts = attempts + 1,
    attempt = attempts + 1,
    -- park when the caller says the failure is terminal or no attempts remain
    status = CASE WHEN %(terminal)s OR attempts + 1 >= max_attempts
                  THEN 'FAILED' ELSE 'PENDING' END,
    due_at = CASE WHEN %(terminal)s OR attempts + 1 >= max_attempts
                  THEN due_at ELSE now() + %(delay)s END,
    completed_at = CASE WHEN %(terminal)s OR attempts + 1 >= max_attempts
                        THEN now() END,
    error = %(error)s,
    lease_expires_at = NULL,
    claim_token = NULL,
    updated_at = now()
-- fenced: only the holder of this claim may write, and only while it holds it
WHERE execution_id = %(execution_id)s
  AND command_id = %(command_id)s
  AND claim_token = %(token)s
  AND status IN ('CLAIMED', 'RUNNING')
RETURNING status, attempts, due_at, updated_at
