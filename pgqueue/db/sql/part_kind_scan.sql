-- (claim_batch.sql's pending rows of one tool kind, {kind}, as the CTE {name};
-- rendered once per kind a worker serves, so each scan is a plain index range
-- in claim order.)
{name} AS MATERIALIZED (
    SELECT c.execution_id, c.command_id, c.status, c.priority, c.due_at
    FROM {command} AS c
    WHERE c.status = 'PENDING'
      AND coalesce(c.tool_kind, '') = {kind}
      AND c.due_at <= now()
      -- a paused kind, or any limit at all: none here (one-time checks)
      AND NOT EXISTS (SELECT 1 FROM {pauses} AS z WHERE z.tool_kind = {kind})
      AND NOT EXISTS (SELECT 1 FROM {limits})
    ORDER BY c.priority DESC, c.due_at, c.command_id
    LIMIT {limit}
    FOR UPDATE SKIP LOCKED
),
