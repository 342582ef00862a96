-- The raw baseline's completion of its one row, in the claiming transaction.
UPDATE {command}
SET status = 'COMPLETED', completed_at = now(), result = '{{}}'
WHERE execution_id = %(execution_id)s AND command_id = %(command_id)s
