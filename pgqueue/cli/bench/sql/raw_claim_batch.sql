-- The raw baseline's batch claim (pgqueue bench): the shortest correct SKIP
-- LOCKED claim of up to {limit} rows, with none of pgqueue's bookkeeping. The
-- size is a literal, as in pgqueue's own claim, so that PostgreSQL keeps one
-- plan for it too instead of planning every claim.
UPDATE {command} AS c
SET status = 'RUNNING', claimed_at = now()
FROM (
    SELECT execution_id, command_id
    FROM {command}
    WHERE status = 'PENDING' AND due_at <= now()
    ORDER BY priority DESC, due_at, command_id
    LIMIT {limit}
    FOR UPDATE SKIP LOCKED
) AS picked
WHERE c.execution_id = picked.execution_id
  AND c.command_id = picked.command_id
RETURNING c.execution_id, c.command_id
