-- Mixed fleets: %(rows)s PENDING commands of a kind no bench worker serves,
-- due an hour ago (so they come first in claim order, as a backlog would).
INSERT INTO {command} (execution_id, command_id, step_name, tool_kind, status, context, due_at)
SELECT -g, -g, 'other', 'other', 'PENDING', '{{}}', now() - interval '1 hour'
FROM generate_series(1, %(rows)s) AS g
