-- enqueue_noetl.sql for commands of which some have a unique key: a command
-- whose key is held (its holder in one of the key's states) is not written,
-- and the holder's id is returned in its place, marked a duplicate.
WITH input AS MATERIALIZED (
    SELECT u.ord,
           -- a command without an execution is its own: the execution id is
           -- the command id
           coalesce(u.execution_id, id.command_id) AS execution_id,
           id.command_id,
           u.step_name, u.tool_kind, u.context, u.priority, u.max_attempts, u.delay,
           u.event_id, u.catalog_id, u.parent_execution_id, u.parent_command_id,
           u.loop_event_id, u.iter_index, u.meta, u.concurrency_key, u.unique_key,
           -- the key's states: the producer's, as text[] from a '|'-joined list
           string_to_array(u.unique_while, '|') AS unique_while
    FROM unnest(%(execution_ids)s::bigint[], %(command_ids)s::bigint[],
                %(steps)s::text[], %(tool_kinds)s::text[], %(contexts)s::text[],
                %(priorities)s::int[], %(max_attempts)s::int[], %(delays)s::float8[],
                %(event_ids)s::bigint[], %(catalog_ids)s::bigint[],
                %(parent_execution_ids)s::bigint[], %(parent_command_ids)s::bigint[],
                %(loop_event_ids)s::bigint[], %(iter_indexes)s::int[], %(metas)s::text[],
                %(concurrency_keys)s::text[], %(unique_keys)s::text[],
                %(unique_whiles)s::text[])
         WITH ORDINALITY
         AS u(execution_id, command_id, step_name, tool_kind, context, priority,
              max_attempts, delay, event_id, catalog_id, parent_execution_id,
              parent_command_id, loop_event_id, iter_index, meta, concurrency_key,
              unique_key, unique_while, ord)
         -- drawn once per row (a volatile call in a subquery is not inlined)
         CROSS JOIN LATERAL (SELECT coalesce(u.command_id, {snowflake}()) AS command_id) AS id
),
-- Each key once (the first command of the bulk that names it), taken or not.
-- The key's row is written either way, so its RETURNING names the holder as
-- it stands after this statement, whoever that is; and in key order, so
-- producers enqueueing the same keys at once lock them in one order (no
-- deadlock). The holder keeps the key unless it holds it no more: in none of
-- its states, or gone. Its state is read in this statement's snapshot, which
-- may predate the holder: a holder made by a transaction this snapshot does
-- not see (still open, or committed after it began; or this one) is a new
-- command, PENDING, and keeps the key.
keys AS (
    INSERT INTO {uniques} AS k (unique_key, execution_id, command_id, states, holder_xact)
    SELECT DISTINCT ON (i.unique_key)
           i.unique_key, i.execution_id, i.command_id,
           coalesce(i.unique_while, ARRAY['CLAIMED', 'PENDING', 'RUNNING']),
           pg_current_xact_id()
    FROM input AS i
    WHERE i.unique_key IS NOT NULL
    ORDER BY i.unique_key, i.ord
    ON CONFLICT (unique_key) DO UPDATE
    SET (execution_id, command_id, states, holder_xact, updated_at) = (
        SELECT CASE WHEN free THEN EXCLUDED.execution_id ELSE k.execution_id END,
               CASE WHEN free THEN EXCLUDED.command_id ELSE k.command_id END,
               CASE WHEN free THEN EXCLUDED.states ELSE k.states END,
               CASE WHEN free THEN EXCLUDED.holder_xact ELSE k.holder_xact END,
               CASE WHEN free THEN now() ELSE k.updated_at END
        FROM (SELECT pg_visible_in_snapshot(k.holder_xact, pg_current_snapshot())
                     AND NOT EXISTS (
                         SELECT 1 FROM {command} AS c
                         WHERE c.execution_id = k.execution_id
                           AND c.command_id = k.command_id
                           AND c.status = ANY(k.states)) AS free) AS f
    )
    RETURNING k.unique_key, k.execution_id, k.command_id
),
-- the commands that hold their key now, and those with none
inserted AS (
    INSERT INTO {command} (execution_id, command_id, step_name, tool_kind, context,
                           priority, max_attempts, due_at, status, attempts,
                           event_id, catalog_id, parent_execution_id, parent_command_id,
                           loop_event_id, iter_index, meta, concurrency_key)
    SELECT i.execution_id, i.command_id, i.step_name, i.tool_kind, i.context::jsonb,
           i.priority, i.max_attempts, now() + make_interval(secs => i.delay), 'PENDING', 0,
           i.event_id, i.catalog_id, i.parent_execution_id, i.parent_command_id,
           i.loop_event_id, i.iter_index, i.meta::jsonb, i.concurrency_key
    FROM input AS i
    WHERE i.unique_key IS NULL
       OR EXISTS (SELECT 1 FROM keys AS k
                  WHERE k.unique_key = i.unique_key
                    AND (k.execution_id, k.command_id) = (i.execution_id, i.command_id))
    -- in key order, whatever the caller's order (no deadlock between producers)
    ORDER BY i.execution_id, i.command_id
    -- enqueueing the same (execution_id, command_id) twice is a no-op
    ON CONFLICT (execution_id, command_id) DO NOTHING
)
-- each command's id in input order: its own, or its key's holder's (a duplicate)
SELECT coalesce(k.command_id, i.command_id) AS command_id,
       k.command_id IS NOT NULL
           AND (k.execution_id, k.command_id) <> (i.execution_id, i.command_id) AS duplicate
FROM input AS i
LEFT JOIN keys AS k ON k.unique_key = i.unique_key
ORDER BY i.ord
