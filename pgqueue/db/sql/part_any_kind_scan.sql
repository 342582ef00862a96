-- (claim_batch.sql's pending rows for a worker of every kind, or of kinds a
-- parameter names, as the CTE {name}: the kind-less index in claim order,
-- less paused kinds.)
{name} AS MATERIALIZED (
    SELECT c.execution_id, c.command_id, c.status, c.priority, c.due_at
    FROM {command} AS c
    WHERE c.status = 'PENDING'
      AND c.due_at <= now()
      AND ({any_kind} OR coalesce(c.tool_kind, '') = ANY({tool_kinds}::text[] || '{{""}}'::text[]))
      AND coalesce(c.tool_kind, '') <> ALL (ARRAY(SELECT tool_kind FROM {pauses}))
      AND NOT EXISTS (SELECT 1 FROM {limits})
    ORDER BY c.priority DESC, c.due_at, c.command_id
    LIMIT {limit}
    FOR UPDATE SKIP LOCKED
),
