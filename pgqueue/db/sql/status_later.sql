-- PENDING commands of the given kinds (an empty list: every kind) and when the
-- first of each falls due: what a worker that stops leaves for later.
SELECT c.tool_kind, count(*) AS pending, min(c.due_at) AS next_due
FROM {command} AS c
-- waiting, of a kind named
WHERE c.status = 'PENDING'
  AND (cardinality(%(tool_kinds)s::text[]) = 0 OR c.tool_kind = ANY(%(tool_kinds)s::text[]))
GROUP BY c.tool_kind
ORDER BY c.tool_kind
