-- (part of nack and nack_reported: the nack of one claim, as `c`, returning what it
-- decided)
UPDATE {command} AS c
-- one more spent, but never past the limit: a row the rescue already counted
-- up to its limit (its worker died) is parked as it stands
SET attempts = CASE WHEN c.attempts >= {max_attempts} THEN c.attempts
                    ELSE c.attempts + 1 END,
    attempt = CASE WHEN c.attempts >= {max_attempts} THEN c.attempts
                   ELSE c.attempts + 1 END,
    -- park when the caller says the failure is terminal or no attempts remain
    status = CASE WHEN %(terminal)s OR c.attempts + 1 >= {max_attempts}
                  THEN 'FAILED' ELSE 'PENDING' END,
    due_at = CASE WHEN %(terminal)s OR c.attempts + 1 >= {max_attempts}
                  THEN c.due_at ELSE now() + %(delay)s END,
    completed_at = CASE WHEN %(terminal)s OR c.attempts + 1 >= {max_attempts}
                        THEN now() END,
    error = %(error)s,
    -- the attempt that ended, in the command's history
    attempt_log = {attempt_log}(c.attempt_log, jsonb_build_object(
        'attempt', c.attempts + 1, 'worker', c.worker_id, 'claimed_at', c.claimed_at,
        'started_at', c.started_at, 'ended_at', now(), 'error', %(error)s::text)),
    lease_expires_at = NULL,
    claim_token = NULL,
    updated_at = now()
-- the one claim this nack is about, as the fence reads its input
FROM (VALUES (%(execution_id)s::bigint, %(command_id)s::bigint, %(token)s::uuid))
     AS r(execution_id, command_id, token)
-- fenced: only the holder of this claim may write, and only while it holds it
WHERE {fence}
RETURNING c.execution_id, c.command_id, c.status, c.attempts, c.due_at, c.updated_at
