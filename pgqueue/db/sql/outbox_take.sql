-- The reports a relay delivers next, locked until it has tried them (another
-- relay skips them; a relay that dies lets them go with its connection). A
-- command's start and final reports may come in one take: the relay then
-- sends them in order, the final only once the start got through.
WITH
-- whether the fleet shares by execution (pgqueue fair-share execution): then
-- the take goes round-robin over executions too, so a short execution's
-- reports are not sent after every report of a long one that finished first
fair AS MATERIALIZED (
    SELECT EXISTS (SELECT 1 FROM {settings} WHERE name = 'fair_share' AND value = 'execution')
        AS shared
),
-- with fair share, the executions with reports waiting: a loose scan of the
-- outbox's (execution_id, command_id, kind) index, one probe each, up to
-- twice the take (nothing read without fair share)
executions AS MATERIALIZED (
    WITH RECURSIVE e AS (
        (SELECT o.execution_id
         FROM {outbox} AS o
         WHERE (SELECT shared FROM fair)
         ORDER BY o.execution_id
         LIMIT 1)
        UNION ALL
        SELECT n.execution_id
        FROM e
        CROSS JOIN LATERAL (
            SELECT o.execution_id
            FROM {outbox} AS o
            WHERE o.execution_id > e.execution_id
            ORDER BY o.execution_id
            LIMIT 1
        ) AS n
    )
    SELECT execution_id FROM e LIMIT 2 * %(limit)s
),
-- the candidates: the first due reports in order, and with fair share the
-- first of each execution, an even share of the take each
candidates AS (
    (SELECT o.report_id, o.execution_id, o.due_at
    FROM {outbox} AS o
    -- due, and not parked (refused for good, waiting for an operator), and
    -- its command's next (part_outbox_next.sql)
    WHERE o.parked_at IS NULL
      AND o.due_at <= now()
      AND {outbox_next}
    ORDER BY o.due_at, o.report_id
    LIMIT %(limit)s)
    UNION
    SELECT f.report_id, f.execution_id, f.due_at
    FROM executions AS x
    CROSS JOIN LATERAL (
        SELECT o.report_id, o.execution_id, o.due_at
        FROM {outbox} AS o
        WHERE o.execution_id = x.execution_id
          AND o.parked_at IS NULL
          AND o.due_at <= now()
          AND {outbox_next}
        ORDER BY o.execution_id, o.command_id, o.kind
        LIMIT (SELECT greatest(ceil(%(limit)s::float8 / count(*)), 1)::int FROM executions)
    ) AS f
),
due AS (
    SELECT o.report_id
    FROM (
        SELECT c.*, row_number() OVER (PARTITION BY c.execution_id
                                       ORDER BY c.due_at, c.report_id) AS turn
        FROM candidates AS c
    ) AS c
    JOIN {outbox} AS o ON o.report_id = c.report_id
    -- oldest first; with fair share each execution's first before any second
    ORDER BY CASE WHEN (SELECT shared FROM fair) THEN c.turn ELSE 0 END, c.due_at, c.report_id
    LIMIT %(limit)s
    FOR UPDATE OF o SKIP LOCKED
)
SELECT o.report_id, o.execution_id, o.command_id, o.kind, o.idempotency_key, o.body,
       o.deliveries,
       -- the command's state now: a start report of a command gone back to
       -- PENDING (waiting for a retry) is stale and dropped, not sent
       c.status AS command_status
FROM due AS d
JOIN {outbox} AS o ON o.report_id = d.report_id
LEFT JOIN {command} AS c ON c.execution_id = o.execution_id AND c.command_id = o.command_id
-- per command in order: every report of it before this one is in this take
-- (not one another relay is sending, nor one the limit left out)
WHERE NOT EXISTS (
    SELECT 1
    FROM {outbox} AS p
    WHERE p.execution_id = o.execution_id
      AND p.command_id = o.command_id
      AND p.report_id < o.report_id
      AND p.parked_at IS NULL
      AND p.report_id NOT IN (SELECT report_id FROM due)
)
-- a command's reports together, in their order
ORDER BY o.execution_id, o.command_id, o.report_id
