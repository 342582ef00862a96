-- (part of part_held_back.sql: the rate that holds back the command row `c`
-- now, as text, or NULL: a rate of its kind, its execution or its key whose
-- window already holds as many starts as the rate allows, and when its next
-- start is allowed: when the oldest start in the window leaves it)
(SELECT 'rate full: ' || r.name || ', ' || r.started || ' started in the last '
        || r.seconds::numeric || 's (at most ' || r.allowed || '); next start at '
        -- in UTC, as ISO 8601 writes it
        || to_char((r.first + make_interval(secs => r.seconds)) AT TIME ZONE 'utc',
                   'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
 FROM (
     SELECT s.rank, s.name, w.allowed, w.seconds, n.started, n.first
     FROM (VALUES (1, 'tool kind ' || c.tool_kind, 'tool_kind:' || coalesce(c.tool_kind, '')),
                  (2, 'execution ' || c.execution_id, 'execution:' || c.execution_id),
                  (3, 'key ' || c.concurrency_key, 'key:' || c.concurrency_key))
          AS s (rank, name, key)
     -- the key's rate (part_rate_allowed.sql, part_rate_window.sql)
     CROSS JOIN LATERAL (
         SELECT {rate_allowed} AS allowed,
                extract(epoch FROM {rate_window})::float8 AS seconds
     ) AS w
     -- its starts in the window now
     CROSS JOIN LATERAL (
         SELECT count(*) AS started, min(t.started_at) AS first
         FROM {starts} AS t
         WHERE t.key = s.key
           AND t.started_at > now() - make_interval(secs => w.seconds)
     ) AS n
     WHERE w.allowed IS NOT NULL
       AND n.started >= w.allowed
 ) AS r
 ORDER BY r.rank
 LIMIT 1)
