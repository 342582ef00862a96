-- The due backlog and its oldest command: how far behind the workers are.
-- Served by the partial index on PENDING rows.
SELECT count(*) AS due,
       extract(epoch FROM now() - min(due_at)) AS oldest_due_seconds,
       (SELECT count(*) FROM {command} WHERE status = 'PENDING' AND due_at > now()) AS scheduled
FROM {command}
WHERE status = 'PENDING'
  AND due_at <= now()
