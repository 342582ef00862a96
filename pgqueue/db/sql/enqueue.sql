-- Insert many commands in one statement from parallel arrays; idempotent on the
-- primary key. Returns every command id in input order, new or already there.
WITH input AS MATERIALIZED (
    SELECT u.ord,
           -- a command without an execution is its own: the execution id is
           -- the command id
           coalesce(u.execution_id, id.command_id) AS execution_id,
           id.command_id,
           u.step_name, u.tool_kind, u.context, u.priority, u.max_attempts, u.delay
    FROM unnest(%(execution_ids)s::bigint[], %(command_ids)s::bigint[],
                %(steps)s::text[], %(tool_kinds)s::text[], %(contexts)s::text[],
                %(priorities)s::int[], %(max_attempts)s::int[], %(delays)s::float8[])
         WITH ORDINALITY
         AS u(execution_id, command_id, step_name, tool_kind, context, priority,
              max_attempts, delay, ord)
         -- a command id the caller leaves out comes from the snowflake generator,
         -- drawn once per row (a volatile call in a subquery is not inlined)
         CROSS JOIN LATERAL (SELECT coalesce(u.command_id, {snowflake}()) AS command_id) AS id
),
inserted AS (
    INSERT INTO {command} (execution_id, command_id, step_name, tool_kind, context,
                           priority, max_attempts, due_at, status, attempts)
    SELECT execution_id, command_id, step_name, tool_kind, context::jsonb,
           priority, max_attempts, now() + make_interval(secs => delay), 'PENDING', 0
    FROM input
    -- in key order, whatever the caller's order: producers enqueueing the same
    -- commands at once then take their key locks in one order (no deadlock)
    ORDER BY execution_id, command_id
    -- enqueueing the same (execution_id, command_id) twice is a no-op
    ON CONFLICT (execution_id, command_id) DO NOTHING
)
SELECT command_id FROM input ORDER BY ord
