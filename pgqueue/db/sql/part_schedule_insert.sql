-- A schedule's command, once per row of `fired` (its `command`: the columns
-- as `pgqueue.schedules` stored them, validated; a `command_id` drawn for it;
-- and `marks`, what its meta gains: the schedule and the tick), due now.
INSERT INTO {command} (execution_id, command_id, step_name, tool_kind, context,
                       priority, max_attempts, due_at, status, attempts,
                       event_id, catalog_id, parent_execution_id, parent_command_id,
                       loop_event_id, iter_index, meta, concurrency_key)
SELECT coalesce((f.command ->> 'execution_id')::bigint, f.command_id), f.command_id,
       f.command ->> 'step_name', f.command ->> 'tool_kind', f.command -> 'context',
       (f.command ->> 'priority')::int, (f.command ->> 'max_attempts')::int, now(),
       'PENDING', 0,
       (f.command ->> 'event_id')::bigint, (f.command ->> 'catalog_id')::bigint,
       (f.command ->> 'parent_execution_id')::bigint,
       (f.command ->> 'parent_command_id')::bigint,
       (f.command ->> 'loop_event_id')::bigint, (f.command ->> 'iter_index')::int,
       coalesce(f.command -> 'meta', '{{}}'::jsonb) || f.marks,
       f.command ->> 'concurrency_key'
FROM fired AS f
-- in key order: the key locks of one insert are taken in one order
ORDER BY 1, 2
RETURNING command_id, meta
