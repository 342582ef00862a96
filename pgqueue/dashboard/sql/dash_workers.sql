-- Every worker in the registry, live first, then stale, newest heartbeat first.
SELECT worker_id, host, pid, tool_kinds, concurrency, started_at, heartbeat_at,
       extract(epoch FROM now() - heartbeat_at) AS beat_seconds,
       heartbeat_at >= now() - %(stale)s::interval AS live
FROM {registry}
ORDER BY heartbeat_at >= now() - %(stale)s::interval DESC, heartbeat_at DESC
LIMIT %(limit)s
