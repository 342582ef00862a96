-- Commands by state and by tool kind, estimated from the planner's statistics:
-- the most common values of each column and their frequencies, times the
-- table's estimated size. Used on a big table, where exact counts cost a scan.
SELECT s.attname AS column_name,
       v.value,
       round(v.freq * %(estimated_rows)s)::bigint AS commands
FROM pg_stats AS s
-- each most common value beside its frequency
CROSS JOIN LATERAL unnest(s.most_common_vals::text::text[], s.most_common_freqs)
     AS v(value, freq)
-- the table's own statistics (a partitioned table's are those with inherited)
WHERE s.schemaname = %(schema)s
  AND s.tablename = %(table)s
  AND s.attname IN ('status', 'tool_kind')
ORDER BY s.attname, v.freq DESC
