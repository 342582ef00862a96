-- (part of the statements under rate limits: each rate's period in seconds,
-- keyed as in part_rate_counts.sql)
(SELECT coalesce(jsonb_object_agg(r.scope || ':' || r.key, extract(epoch FROM r.rate_period)),
                 '{{}}')
 FROM {limits} AS r
 WHERE r.rate_count IS NOT NULL)
