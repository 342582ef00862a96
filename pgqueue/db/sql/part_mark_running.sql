-- (part of mark_running and mark_running_reported: the batched RUNNING mark,
-- as `c`, returning each marked key)
UPDATE {command} AS c
SET status = 'RUNNING',
    -- a mark sent twice keeps the first start
    started_at = coalesce(c.started_at, now()),
    updated_at = now()
FROM unnest(%(execution_ids)b::bigint[], %(command_ids)b::bigint[], %(tokens)b::uuid[])
     AS r(execution_id, command_id, token)
-- fenced: a claim that was lost, cancelled or finished is not ours to start
WHERE {fence}
RETURNING c.command_id, c.execution_id
