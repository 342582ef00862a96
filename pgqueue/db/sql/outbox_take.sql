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
      -- its command's next (part_outbox_next.sql)
      AND {outbox_next}
    ORDER BY o.due_at, o.report_id
    LIMIT %(limit)s
    FOR UPDATE OF o SKIP LOCKED
)
{outbox_taken}
