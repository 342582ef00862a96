-- (part of every write that may carry reports: after the CTE `written`, the
-- rows the write changed.) Their reports go into the outbox in the same
-- statement, so in the same transaction as the row: a crash loses neither
-- without the other, and a write the fence refused reports nothing.
INSERT INTO {outbox} (execution_id, command_id, kind, idempotency_key, body)
SELECT w.execution_id, w.command_id, rep.report ->> 'kind', rep.report ->> 'key',
       rep.report -> 'body'
FROM unnest(%(reports)b::jsonb[]) WITH ORDINALITY AS rep(report, n)
-- only reports of rows the write changed
JOIN written AS w
  ON w.execution_id = (rep.report ->> 'execution_id')::bigint
 AND w.command_id = (rep.report ->> 'command_id')::bigint
-- in the order given, so a command's start report gets the lower id
ORDER BY rep.n
-- a report already written (a start the RUNNING mark wrote, a retried write) stays
ON CONFLICT (execution_id, command_id, kind) DO NOTHING
