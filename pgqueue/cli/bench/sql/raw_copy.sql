-- The raw baseline's bulk enqueue: COPY of the columns pgqueue's own COPY sends.
COPY {command} (execution_id, command_id, step_name, tool_kind, context)
FROM STDIN
