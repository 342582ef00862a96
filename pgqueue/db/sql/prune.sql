-- Retention: delete finished commands older than the window, a bounded batch
-- per statement so a large backlog never holds one long transaction.
WITH doomed AS (
    SELECT execution_id, command_id
    FROM {command}
    WHERE status = ANY(%(statuses)s::text[])
      AND completed_at < now() - %(older_than)s
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
),
deleted AS (
    DELETE FROM {command} AS c
    USING doomed
    WHERE c.execution_id = doomed.execution_id
      AND c.command_id = doomed.command_id
    RETURNING 1
)
-- how many went, so the caller knows whether a full batch is left
SELECT count(*) FROM deleted
