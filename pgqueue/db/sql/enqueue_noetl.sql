-- enqueue.sql for commands that set NoETL's own columns too (its control
-- plane's table requires event_id and catalog_id), or a concurrency key (a
-- limit's key, see claim_limited.sql): the same rules, more columns.
WITH input AS MATERIALIZED (
    SELECT u.ord,
           -- a command without an execution is its own: the execution id is
           -- the command id
           coalesce(u.execution_id, id.command_id) AS execution_id,
           id.command_id,
           u.step_name, u.tool_kind, u.context, u.priority, u.max_attempts, u.delay,
           u.event_id, u.catalog_id, u.parent_execution_id, u.parent_command_id,
           u.loop_event_id, u.iter_index, u.meta, u.concurrency_key
    FROM unnest(%(execution_ids)s::bigint[], %(command_ids)s::bigint[],
                %(steps)s::text[], %(tool_kinds)s::text[], %(contexts)s::text[],
                %(priorities)s::int[], %(max_attempts)s::int[], %(delays)s::float8[],
                %(event_ids)s::bigint[], %(catalog_ids)s::bigint[],
                %(parent_execution_ids)s::bigint[], %(parent_command_ids)s::bigint[],
                %(loop_event_ids)s::bigint[], %(iter_indexes)s::int[], %(metas)s::text[],
                %(concurrency_keys)s::text[])
         WITH ORDINALITY
         AS u(execution_id, command_id, step_name, tool_kind, context, priority,
              max_attempts, delay, event_id, catalog_id, parent_execution_id,
              parent_command_id, loop_event_id, iter_index, meta, concurrency_key, ord)
         -- a command id the caller leaves out comes from the snowflake generator,
         -- drawn once per row (a volatile call in a subquery is not inlined)
         CROSS JOIN LATERAL (SELECT coalesce(u.command_id, {snowflake}()) AS command_id) AS id
),
inserted AS (
    INSERT INTO {command} (execution_id, command_id, step_name, tool_kind, context,
                           priority, max_attempts, due_at, status, attempts,
                           event_id, catalog_id, parent_execution_id, parent_command_id,
                           loop_event_id, iter_index, meta, concurrency_key)
    SELECT execution_id, command_id, step_name, tool_kind, context::jsonb,
           priority, max_attempts, now() + make_interval(secs => delay), 'PENDING', 0,
           event_id, catalog_id, parent_execution_id, parent_command_id,
           loop_event_id, iter_index, meta::jsonb, concurrency_key
    FROM input
    -- in key order, whatever the caller's order (no deadlock between producers)
    ORDER BY execution_id, command_id
    -- enqueueing the same (execution_id, command_id) twice is a no-op
    ON CONFLICT (execution_id, command_id) DO NOTHING
)
SELECT command_id FROM input ORDER BY ord
