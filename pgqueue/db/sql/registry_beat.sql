-- A registered worker's heartbeat; no row back: its row was taken over or
-- removed (it was stale long enough for another process to take its id).
UPDATE {registry}
SET heartbeat_at = now()
WHERE worker_id = %(worker_id)s
  AND host = %(host)s
  AND pid = %(pid)s
RETURNING worker_id
