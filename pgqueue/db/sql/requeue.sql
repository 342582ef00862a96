-- An operator sends dead-lettered commands back to the queue with fresh attempts.
WITH requeued AS (
    UPDATE {command}
    SET status = 'PENDING',
        attempts = 0,
        attempt = 1,
        due_at = now(),
        completed_at = NULL,
        lease_expires_at = NULL,
        claim_token = NULL,
        updated_at = now()
    WHERE status = 'FAILED'
      -- each filter applies only when given
      AND (%(command_ids)s::bigint[] IS NULL OR command_id = ANY(%(command_ids)s::bigint[]))
      AND (%(execution_id)s::bigint IS NULL OR execution_id = %(execution_id)s::bigint)
      AND (%(tool_kind)s::text IS NULL OR tool_kind = %(tool_kind)s::text)
      AND (%(step)s::text IS NULL OR step_name = %(step)s::text)
    RETURNING execution_id, command_id
)
-- one wake-up for the whole statement, only when something came back; the
-- ids sent back
SELECT count(*) AS requeued,
       CASE WHEN count(*) > 0 THEN pg_notify(%(channel)s, 'requeue') END AS notified,
       coalesce(array_agg(command_id ORDER BY command_id), ARRAY[]::bigint[]) AS command_ids
FROM requeued
