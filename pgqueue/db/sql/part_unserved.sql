-- (part of status_unserved and registry_unserved: the tool kind `k.tool_kind`
-- is served by no live worker, one whose heartbeat is within the staleness
-- bound. A worker serving every kind has an empty list: it serves them all.)
NOT EXISTS (
    SELECT 1
    FROM {registry} AS w
    WHERE w.heartbeat_at >= now() - %(stale)s::interval
      AND (k.tool_kind = ANY(w.tool_kinds) OR cardinality(w.tool_kinds) = 0)
)
