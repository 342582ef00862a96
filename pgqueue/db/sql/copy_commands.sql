-- Bulk enqueue of new commands (ids already drawn): COPY, the fastest way in.
-- due_at, attempts, status and the timestamps take their column defaults.
COPY {command} (execution_id, command_id, step_name, tool_kind, context, priority, max_attempts)
FROM STDIN
