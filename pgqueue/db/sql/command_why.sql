-- Why a command is not running now (pgqueue show): whether it is due, what
-- flow control holds it back by, and whether any live worker serves its kind.
SELECT c.status,
       -- not due yet: a delay or a retry's backoff
       c.due_at > now() AS later,
       ({held_back}) AS held_back,
       ({unserved}) AS unserved
FROM {command} AS c
-- part_unserved.sql's row: the command's own kind
CROSS JOIN LATERAL (SELECT c.tool_kind) AS k
WHERE c.command_id = %(command_id)s
  AND (%(execution_id)s::bigint IS NULL OR c.execution_id = %(execution_id)s::bigint)
