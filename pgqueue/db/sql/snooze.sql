-- A tool asks to run again later without spending an attempt (pgqueue.Snooze):
-- the command waits PENDING until its delay is over, its attempts as they
-- were, its claim let go.
UPDATE {command} AS c
SET status = 'PENDING',
    due_at = now() + %(delay)s,
    lease_expires_at = NULL,
    claim_token = NULL,
    updated_at = now()
-- the one claim this is about, as the fence reads its input
FROM (VALUES (%(execution_id)s::bigint, %(command_id)s::bigint, %(token)s::uuid))
     AS r(execution_id, command_id, token)
-- fenced: only the holder of this claim may snooze it
WHERE {fence}
RETURNING c.execution_id, c.command_id
