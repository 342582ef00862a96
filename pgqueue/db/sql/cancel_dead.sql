-- Never start a command of an execution that has ended. NoETL's own claim rule:
-- an execution has ended when it has a terminal event (not when its row says
-- FAILED: a failed step fails the row while the engine still issues the steps
-- its arcs lead to, and ends the execution only once they are reported). Of
-- the rows just claimed, those of an ended execution end CANCELLED, with the
-- event that ended it.
UPDATE {command} AS c
SET {ended_set}
FROM unnest(%(execution_ids)b::bigint[], %(command_ids)b::bigint[], %(tokens)b::uuid[])
     AS r(execution_id, command_id, token)
-- the newest terminal event of each row's execution (part_terminal_event.sql)
{terminal_event}
-- fenced: only rows still under this claim
WHERE {fence}
RETURNING c.command_id, c.execution_id
