-- The overview's exact figures, each read through an index that holds only the
-- rows it counts, so each stays cheap however many finished rows the table has.
SELECT
    -- commands under a lease now (the lease index holds only these)
    (SELECT count(*) FROM {command}
     WHERE status IN ('CLAIMED', 'RUNNING') AND lease_expires_at IS NOT NULL) AS running,
    -- the slots of the workers alive now (a heartbeat within the stale bound)
    (SELECT coalesce(sum(concurrency), 0) FROM {registry}
     WHERE heartbeat_at >= now() - %(stale)s::interval) AS live_slots,
    (SELECT count(*) FROM {registry}
     WHERE heartbeat_at >= now() - %(stale)s::interval) AS live_workers,
    -- the oldest due command's age, among at most the first 10,000 in claim order
    (SELECT extract(epoch FROM now() - min(due_at))
     FROM (SELECT due_at FROM {command}
           WHERE status = 'PENDING' AND due_at <= now()
           ORDER BY priority DESC, due_at, command_id
           LIMIT 10000) AS due) AS oldest_due_seconds,
    -- failures of the last hour (the finished index is ordered by completed_at)
    (SELECT count(*) FROM {command}
     WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED')
       AND completed_at >= now() - interval '1 hour'
       AND status = 'FAILED') AS failed_last_hour
