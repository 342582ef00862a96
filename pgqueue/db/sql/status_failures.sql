-- The most recent dead letters, with their reasons.
SELECT command_id, execution_id, tool_kind, step_name, attempts, completed_at, error
FROM {command}
WHERE status = 'FAILED'
ORDER BY completed_at DESC NULLS LAST
LIMIT %(limit)s
