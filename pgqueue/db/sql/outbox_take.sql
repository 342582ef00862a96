-- The reports a relay delivers next, locked until it has tried them (another
-- relay skips them; a relay that dies lets them go with its connection).
SELECT o.report_id, o.execution_id, o.command_id, o.kind, o.idempotency_key, o.body,
       o.deliveries,
       -- the command's state now: a start report of a command gone back to
       -- PENDING (waiting for a retry) is stale and dropped, not sent
       c.status AS command_status
FROM {outbox} AS o
LEFT JOIN {command} AS c ON c.execution_id = o.execution_id AND c.command_id = o.command_id
-- due, and not parked (refused for good, waiting for an operator)
WHERE o.parked_at IS NULL
  AND o.due_at <= now()
  -- per command in order: nothing of it waits before this one (its start
  -- report before its final one, even while another relay sends the start)
  AND NOT EXISTS (
      SELECT 1
      FROM {outbox} AS p
      WHERE p.execution_id = o.execution_id
        AND p.command_id = o.command_id
        AND p.report_id < o.report_id
        AND p.parked_at IS NULL
  )
ORDER BY o.due_at, o.report_id
LIMIT %(limit)s
FOR UPDATE OF o SKIP LOCKED
