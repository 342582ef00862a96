-- A holder cancels the command it holds, in its caller's transaction: the row
-- becomes CANCELLED with the reason, only while this claim holds it.
UPDATE {command} AS c
SET status = 'CANCELLED',
    completed_at = now(),
    lease_expires_at = NULL,
    claim_token = NULL,
    error = coalesce(%(reason)s, c.error),
    updated_at = now()
-- the one claim this is about, as the fence reads its input
FROM (VALUES (%(execution_id)s::bigint, %(command_id)s::bigint, %(token)s::uuid))
     AS r(execution_id, command_id, token)
-- fenced: a stale handle (its row rescued and claimed again) writes nothing
WHERE {fence}
RETURNING c.execution_id, c.command_id
