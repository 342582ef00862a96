-- (part of the claims under rate limits: the keys of the claimed row `x`
-- that a rate counts, one row each, for the claim to record its start under:
-- its kind, its execution (under its own rate or the one for every
-- execution) and its concurrency key, where a rate names them)
SELECT k.key
FROM (VALUES ('tool_kind:' || coalesce(x.tool_kind, '')),
             ('execution:' || x.execution_id),
             ('key:' || x.concurrency_key)) AS k (key)
WHERE {rate_counts} ? k.key
   OR (left(k.key, 10) = 'execution:' AND {rate_counts} ? 'every_execution:')
