-- One command with its history fields (pgqueue.get, pgqueue show): by id, in
-- one execution when its id is given (one partition on NoETL's table).
SELECT command_id, execution_id, step_name, tool_kind, status, attempts,
       {max_attempts} AS max_attempts, worker_id, result, error, context, meta,
       created_at, due_at, claimed_at, started_at, completed_at, lease_expires_at,
       updated_at, attempt_log, progress
FROM {command} AS c
WHERE command_id = %(command_id)s
  AND (%(execution_id)s::bigint IS NULL OR execution_id = %(execution_id)s::bigint)
LIMIT 2
