-- Tool kinds with PENDING work that no live worker serves: they would wait forever.
SELECT k.tool_kind, count(*) AS pending
FROM {command} AS k
WHERE k.status = 'PENDING'
  AND {unserved}
GROUP BY k.tool_kind
ORDER BY k.tool_kind
