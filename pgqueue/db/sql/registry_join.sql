-- A worker process records itself in the registry. A row of the same worker id
-- is taken over only when it is stale (its process died without removing it);
-- a live one is left as it is, and the caller, finding no row returned, refuses
-- to start under a worker id another live process holds.
INSERT INTO {registry} AS w (worker_id, host, pid, tool_kinds, concurrency)
VALUES (%(worker_id)s, %(host)s, %(pid)s, %(tool_kinds)s, %(concurrency)s)
ON CONFLICT (worker_id) DO UPDATE
SET host = excluded.host,
    pid = excluded.pid,
    tool_kinds = excluded.tool_kinds,
    concurrency = excluded.concurrency,
    started_at = now(),
    heartbeat_at = now()
-- only over a row whose heartbeat is older than the staleness bound
WHERE w.heartbeat_at < now() - %(stale)s::interval
RETURNING worker_id
