-- The live workers (a heartbeat within the staleness bound), for pgqueue status.
SELECT worker_id, host, pid, tool_kinds, concurrency,
       extract(epoch FROM now() - started_at) AS up_seconds,
       extract(epoch FROM now() - heartbeat_at) AS beat_seconds
FROM {registry}
WHERE heartbeat_at >= now() - %(stale)s::interval
ORDER BY worker_id
