-- How long until the next PENDING command of the kinds a worker serves falls
-- due, if one does within the horizon: `worker --until-empty` waits for a retry
-- due soon instead of exiting before it.
SELECT extract(epoch FROM min(c.due_at) - now())::float8 AS seconds
FROM {command} AS c
-- waiting, not due yet, and due within the horizon
WHERE c.status = 'PENDING'
  AND c.due_at > now()
  AND c.due_at <= now() + %(horizon)s
  -- of a kind this worker runs (an empty list: every kind)
  AND (cardinality(%(tool_kinds)s::text[]) = 0 OR c.tool_kind = ANY(%(tool_kinds)s::text[]))
