-- The tool starts: CLAIMED becomes RUNNING, for many commands at once.
UPDATE {command} AS c
SET status = 'RUNNING',
    started_at = now(),
    updated_at = now()
FROM unnest(%(execution_ids)b::bigint[], %(command_ids)b::bigint[], %(tokens)b::uuid[])
     AS r(execution_id, command_id, token)
-- fenced: a claim that was lost or cancelled is not ours to start
WHERE {same_claim}
  -- still only claimed; a CASE for the reason part_leased.sql gives
  AND CASE c.status WHEN 'CLAIMED' THEN true ELSE false END
RETURNING c.command_id, c.execution_id
