-- (part of outbox_take and outbox_take_fair: whether nothing of the command of report `o` waits
-- for later before it: a start report retried in a while holds its final
-- report back)
NOT EXISTS (
    SELECT 1
    FROM {outbox} AS p
    WHERE p.execution_id = o.execution_id
      AND p.command_id = o.command_id
      AND p.report_id < o.report_id
      AND p.parked_at IS NULL
      AND p.due_at > now()
)
