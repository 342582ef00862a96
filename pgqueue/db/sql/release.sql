-- Give claims back untouched: the command was not attempted (shutdown, rows
-- claimed in a batch but never handed out, ack of a Failed outcome).
WITH released AS (
    UPDATE {command} AS c
    SET status = 'PENDING',
        -- due where it was (at the front of the queue), or after %(delay)s: a
        -- command still running in a thread this process cannot stop is not
        -- due again before the process is gone
        due_at = CASE WHEN %(delay)s::interval > interval '0'
                      THEN now() + %(delay)s::interval ELSE c.due_at END,
        lease_expires_at = NULL,
        claim_token = NULL,
        updated_at = now()
    FROM unnest(%(execution_ids)b::bigint[], %(command_ids)b::bigint[], %(tokens)b::uuid[])
         AS r(execution_id, command_id, token)
    -- fenced on each row's own claim token
    WHERE {fence}
    RETURNING c.command_id
)
-- wake idle workers once, so the rows are taken now rather than at their next poll
SELECT count(*) AS released,
       CASE WHEN count(*) > 0 THEN pg_notify(%(channel)s, 'release') END AS notified
FROM released
