-- (part of claim_target and command_why: why flow control holds back the
-- command row `c` now, as text, or NULL when nothing does: its kind paused,
-- a limit it falls under full, or a rate it falls under spent. Counts are of
-- rows CLAIMED or RUNNING under a lease, as the claim counts them.)
CASE
WHEN EXISTS (SELECT 1 FROM {pauses} AS p WHERE p.tool_kind = c.tool_kind)
THEN 'its tool kind ' || c.tool_kind || ' is paused: '
     || coalesce((SELECT p.reason FROM {pauses} AS p WHERE p.tool_kind = c.tool_kind),
                 'no reason given')
ELSE coalesce((
    SELECT 'limit full: ' || l.name || ', ' || l.running || ' running of at most '
           || l.max_running
    FROM (
        SELECT 'tool kind ' || k.key AS name, k.max_running,
               (SELECT count(*) FROM {command} AS h
                WHERE h.status IN ('CLAIMED', 'RUNNING') AND h.lease_expires_at IS NOT NULL
                  AND h.tool_kind = c.tool_kind) AS running, 1 AS rank
        FROM {limits} AS k
        WHERE k.scope = 'tool_kind' AND k.key = c.tool_kind
        UNION ALL
        SELECT CASE e.scope WHEN 'execution' THEN 'execution ' || e.key
                            ELSE 'every execution (execution ' || c.execution_id || ')' END,
               e.max_running,
               (SELECT count(*) FROM {command} AS h
                WHERE h.status IN ('CLAIMED', 'RUNNING') AND h.lease_expires_at IS NOT NULL
                  AND h.execution_id = c.execution_id),
               -- an execution's own limit before the default for every execution
               CASE e.scope WHEN 'execution' THEN 2 ELSE 3 END
        FROM {limits} AS e
        WHERE (e.scope = 'execution' AND e.key = c.execution_id::text)
           OR (e.scope = 'every_execution'
               AND NOT EXISTS (SELECT 1 FROM {limits} AS o
                               WHERE o.scope = 'execution' AND o.key = c.execution_id::text
                                 AND o.max_running IS NOT NULL))
        UNION ALL
        SELECT 'key ' || k.key, k.max_running,
               (SELECT count(*) FROM {command} AS h
                WHERE h.status IN ('CLAIMED', 'RUNNING') AND h.lease_expires_at IS NOT NULL
                  AND h.concurrency_key = c.concurrency_key), 4
        FROM {limits} AS k
        WHERE k.scope = 'key' AND k.key = c.concurrency_key
    ) AS l
    WHERE l.running >= l.max_running
    ORDER BY l.rank
    LIMIT 1
), {rate_held})
END
