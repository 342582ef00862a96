-- The reports a relay delivers next, locked until it has tried them (another
-- relay skips them; a relay that dies lets them go with its connection). A
-- command's start and final reports may come in one take: the relay then
-- sends them in order, the final only once the start got through.
WITH due AS (
    SELECT o.report_id
    FROM {outbox} AS o
    -- due, and not parked (refused for good, waiting for an operator)
    WHERE o.parked_at IS NULL
      AND o.due_at <= now()
      -- nothing of its command waits for later before it (a start report
      -- retried in a while holds its final report back)
      AND NOT EXISTS (
          SELECT 1
          FROM {outbox} AS p
          WHERE p.execution_id = o.execution_id
            AND p.command_id = o.command_id
            AND p.report_id < o.report_id
            AND p.parked_at IS NULL
            AND p.due_at > now()
      )
    ORDER BY o.due_at, o.report_id
    LIMIT %(limit)s
    FOR UPDATE OF o SKIP LOCKED
)
SELECT o.report_id, o.execution_id, o.command_id, o.kind, o.idempotency_key, o.body,
       o.deliveries,
       -- the command's state now: a start report of a command gone back to
       -- PENDING (waiting for a retry) is stale and dropped, not sent
       c.status AS command_status
FROM due AS d
JOIN {outbox} AS o ON o.report_id = d.report_id
LEFT JOIN {command} AS c ON c.execution_id = o.execution_id AND c.command_id = o.command_id
-- per command in order: every report of it before this one is in this take
-- (not one another relay is sending, nor one the limit left out)
WHERE NOT EXISTS (
    SELECT 1
    FROM {outbox} AS p
    WHERE p.execution_id = o.execution_id
      AND p.command_id = o.command_id
      AND p.report_id < o.report_id
      AND p.parked_at IS NULL
      AND p.report_id NOT IN (SELECT report_id FROM due)
)
-- a command's reports together, in their order
ORDER BY o.execution_id, o.command_id, o.report_id
