-- Remove a schedule; its commands already enqueued stay. Returns it.
DELETE FROM {schedules} AS s
WHERE s.name = %(name)s
RETURNING s.*, now() AS now
