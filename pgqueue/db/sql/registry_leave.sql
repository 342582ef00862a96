-- A worker that stops removes its row (only its own: the same host and pid).
DELETE FROM {registry}
WHERE worker_id = %(worker_id)s
  AND host = %(host)s
  AND pid = %(pid)s
