-- Every limit, with how many of its commands pgqueue workers hold now
-- (CLAIMED or RUNNING under a lease), how many started within its rate's
-- window and when the next may start, and how many due ones wait.
SELECT l.scope, l.key, l.max_running, l.rate_count, l.rate_period, l.updated_at,
       -- what holds a place now, as the claim counts it
       (SELECT count(*)
        FROM {command} AS c
        WHERE c.status IN ('CLAIMED', 'RUNNING')
          AND c.lease_expires_at IS NOT NULL
          AND CASE l.scope
                  WHEN 'tool_kind' THEN c.tool_kind = l.key
                  WHEN 'key' THEN c.concurrency_key = l.key
                  WHEN 'execution' THEN c.execution_id::text = l.key
                  ELSE false
              END) AS running,
       -- starts within the rate's window, as the claim counts them (none for
       -- the rate of every execution: each execution has a window of its own)
       w.started,
       -- when the window has room again, if it is full
       CASE WHEN w.started >= l.rate_count THEN w.first + l.rate_period END AS next_start,
       -- due commands under it, waiting
       (SELECT count(*)
        FROM {command} AS c
        WHERE c.status = 'PENDING'
          AND c.due_at <= now()
          AND CASE l.scope
                  WHEN 'tool_kind' THEN coalesce(c.tool_kind, '') = l.key
                  WHEN 'key' THEN c.concurrency_key = l.key
                  WHEN 'execution' THEN c.execution_id::text = l.key
                  ELSE false
              END) AS waiting
FROM {limits} AS l
LEFT JOIN LATERAL (
    SELECT count(*) AS started, min(s.started_at) AS first
    FROM {starts} AS s
    WHERE s.key = l.scope || ':' || l.key
      AND s.started_at > now() - l.rate_period
      AND l.scope <> 'every_execution'
) AS w ON true
ORDER BY l.scope, l.key
