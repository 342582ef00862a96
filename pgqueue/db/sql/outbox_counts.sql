-- The outbox at a glance (pgqueue status): waiting, parked, the oldest waiting.
SELECT count(*) FILTER (WHERE parked_at IS NULL) AS waiting,
       count(*) FILTER (WHERE parked_at IS NOT NULL) AS parked,
       min(created_at) FILTER (WHERE parked_at IS NULL) AS oldest_waiting
FROM {outbox}
