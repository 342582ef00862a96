-- How long until the next PENDING command of the kinds a worker serves falls
-- due, if one does within the horizon: `worker --until-empty` waits for a retry
-- due soon instead of exiting before it.
SELECT extract(epoch FROM min(c.due_at) - now())::float8 AS seconds
FROM {command} AS c
-- waiting, and due within the horizon: not due yet, or due only since a moment
-- ago (a retry nacked with a short backoff falls due between the claim that
-- found nothing and this look: it is no reason to stop). A row due for longer
-- that the claim did not take (a paused kind, a full limit) is: the worker
-- would wait on it for ever.
WHERE c.status = 'PENDING'
  AND c.due_at > now() - interval '1 second'
  AND c.due_at <= now() + %(horizon)s
  -- of a kind this worker runs (an empty list: every kind)
  AND (cardinality(%(tool_kinds)s::text[]) = 0 OR c.tool_kind = ANY(%(tool_kinds)s::text[]))
