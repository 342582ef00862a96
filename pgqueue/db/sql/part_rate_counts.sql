-- (part of the statements under rate limits: each rate's count as a map from
-- '<scope>:<key>' ('tool_kind:http', 'execution:42', 'key:tenant-9',
-- 'every_execution:') to its N, '{{}}' when no rate is set; uncorrelated, so
-- read once per statement)
(SELECT coalesce(jsonb_object_agg(r.scope || ':' || r.key, r.rate_count), '{{}}')
 FROM {limits} AS r
 WHERE r.rate_count IS NOT NULL)
