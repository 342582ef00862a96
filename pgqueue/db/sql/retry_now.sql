-- An operator makes commands waiting out a delay or a retry's backoff due now.
WITH made_due AS (
    UPDATE {command}
    SET due_at = now(),
        updated_at = now()
    WHERE status = 'PENDING'
      AND due_at > now()
      -- each filter applies only when given (the caller gives at least one)
      AND (%(command_ids)s::bigint[] IS NULL OR command_id = ANY(%(command_ids)s::bigint[]))
      AND (%(execution_id)s::bigint IS NULL OR execution_id = %(execution_id)s::bigint)
      AND (%(tool_kind)s::text IS NULL OR tool_kind = %(tool_kind)s::text)
      AND (%(step)s::text IS NULL OR step_name = %(step)s::text)
    RETURNING execution_id, command_id
)
-- one wake-up for idle workers, only when something is due now; the ids
SELECT CASE WHEN count(*) > 0 THEN pg_notify(%(channel)s, 'retry-now') END AS notified,
       coalesce(array_agg(command_id ORDER BY command_id), ARRAY[]::bigint[]) AS command_ids
FROM made_due
