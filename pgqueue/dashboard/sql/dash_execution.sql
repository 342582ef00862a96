-- One execution's commands in the order they were made, with their timeline.
SELECT command_id, step_name, tool_kind, status, attempts, worker_id,
       created_at, claimed_at, started_at, completed_at, left(error, 200) AS error
FROM {command}
WHERE execution_id = %(execution_id)s
ORDER BY created_at, command_id
LIMIT %(limit)s
