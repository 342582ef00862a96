-- Live and expired leases by worker: who holds what, and who stopped heartbeating.
SELECT coalesce(worker_id, '(none)') AS worker_id,
       count(*) FILTER (WHERE status = 'CLAIMED') AS claimed,
       count(*) FILTER (WHERE status = 'RUNNING') AS running,
       count(*) FILTER (WHERE lease_expires_at < now()) AS expired,
       extract(epoch FROM min(lease_expires_at) - now()) AS next_expiry_seconds
FROM {command}
WHERE status IN ('CLAIMED', 'RUNNING')
GROUP BY 1
ORDER BY 1
