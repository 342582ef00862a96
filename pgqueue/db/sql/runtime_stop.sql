-- A worker that stops says so in NoETL's runtime registry.
UPDATE {runtime}
SET status = 'offline',
    heartbeat = now(),
    updated_at = now()
WHERE kind = 'worker_pool'
  AND name = %(name)s
