-- Tool kinds with PENDING work that no live worker serves: they would wait
-- forever. (A worker serving every kind has an empty list: it serves them all.)
SELECT c.tool_kind, count(*) AS pending
FROM {command} AS c
WHERE c.status = 'PENDING'
  AND NOT EXISTS (
      SELECT 1
      FROM {registry} AS w
      WHERE w.heartbeat_at >= now() - %(stale)s::interval
        AND (c.tool_kind = ANY(w.tool_kinds) OR cardinality(w.tool_kinds) = 0)
  )
GROUP BY c.tool_kind
ORDER BY c.tool_kind
