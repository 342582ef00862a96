-- Who holds a worker id now, and how long ago it beat (pgqueue worker's refusal).
SELECT host, pid, extract(epoch FROM now() - heartbeat_at) AS beat_seconds
FROM {registry}
WHERE worker_id = %(worker_id)s
