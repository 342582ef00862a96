-- The raw baseline's completion of a claimed batch, in one statement.
UPDATE {command} AS c
SET status = 'COMPLETED', completed_at = now(), result = '{{}}'
FROM unnest(%(execution_ids)s::bigint[], %(command_ids)s::bigint[]) AS r(execution_id, command_id)
WHERE c.execution_id = r.execution_id
  AND c.command_id = r.command_id
