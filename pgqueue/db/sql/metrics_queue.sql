-- The queue's gauges for the worker's metrics, by tool kind: pending, due now,
-- the oldest due one's age, leased and failed. The open and failed states
-- only: finished rows (most of a table) are not read.
SELECT tool_kind,
       count(*) FILTER (WHERE status = 'PENDING') AS pending,
       count(*) FILTER (WHERE status = 'PENDING' AND due_at <= now()) AS due,
       extract(epoch FROM now() - min(due_at) FILTER (WHERE status = 'PENDING'
                                                      AND due_at <= now()))
           AS oldest_due_seconds,
       count(*) FILTER (WHERE status IN ('CLAIMED', 'RUNNING')) AS leased,
       count(*) FILTER (WHERE status = 'FAILED') AS failed
FROM {command}
WHERE status IN ('PENDING', 'CLAIMED', 'RUNNING', 'FAILED')
GROUP BY tool_kind
