-- Every concurrency limit, with how many of its commands pgqueue workers hold
-- now (CLAIMED or RUNNING under a lease) and how many due ones wait.
SELECT l.scope, l.key, l.max_running, l.updated_at,
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
ORDER BY l.scope, l.key
