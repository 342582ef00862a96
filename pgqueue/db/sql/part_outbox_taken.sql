-- (part of outbox_take and outbox_take_fair: the reports of `due`, each with its
-- command's state, and only with every earlier report of its command.)
SELECT o.report_id, o.execution_id, o.command_id, o.kind, o.idempotency_key, o.body,
       o.deliveries,
       -- the command's state now: a start report of a command gone back to
       -- PENDING (waiting for a retry) is stale and dropped, not sent
       c.status AS command_status,
       -- whether the next take goes round-robin (outbox_take_fair.sql): the
       -- fleet shares by execution (pgqueue fair-share execution)
       EXISTS (SELECT 1 FROM {settings} WHERE name = 'fair_share' AND value = 'execution')
           AS fair_next
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
