-- outbox_take.sql's take, round-robin over executions, while the fleet shares
-- by execution (pgqueue fair-share execution): a short execution's reports
-- are then not sent after every report of a long one that finished first.
WITH
-- the executions with reports waiting: a loose scan of the outbox's
-- (execution_id, command_id, kind) index, one probe each, up to twice the take
executions AS MATERIALIZED (
    WITH RECURSIVE e AS (
        (SELECT o.execution_id
         FROM {outbox} AS o
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
-- the candidates: the first due reports in order, and the first of each
-- execution, an even share of the take each (in reports: a command's start
-- and final two, or a share of one would be a final report its start is not
-- taken with, which part_outbox_taken.sql leaves out)
candidates AS (
    (SELECT o.report_id, o.execution_id, o.command_id, o.due_at
    FROM {outbox} AS o
    -- due, and not parked (refused for good, waiting for an operator), and
    -- its command's next (part_outbox_next.sql)
    WHERE o.parked_at IS NULL
      AND o.due_at <= now()
      AND {outbox_next}
    ORDER BY o.due_at, o.report_id
    LIMIT %(limit)s)
    UNION
    SELECT f.report_id, f.execution_id, f.command_id, f.due_at
    FROM executions AS x
    CROSS JOIN LATERAL (
        SELECT o.report_id, o.execution_id, o.command_id, o.due_at
        FROM {outbox} AS o
        WHERE o.execution_id = x.execution_id
          AND o.parked_at IS NULL
          AND o.due_at <= now()
          AND {outbox_next}
        ORDER BY o.execution_id, o.command_id, o.kind
        LIMIT (SELECT 2 * greatest(ceil(%(limit)s::float8 / count(*)), 1)::int FROM executions)
    ) AS f
),
-- each candidate's command, as its first report fell due
commands AS (
    SELECT c.*, min(c.due_at) OVER (PARTITION BY c.execution_id, c.command_id) AS command_due
    FROM candidates AS c
),
due AS (
    SELECT o.report_id
    FROM (
        SELECT c.*, dense_rank() OVER (PARTITION BY c.execution_id
                                       ORDER BY c.command_due, c.command_id) AS turn
        FROM commands AS c
    ) AS c
    JOIN {outbox} AS o ON o.report_id = c.report_id
    -- each execution's first command before any second, the oldest first, a
    -- command's reports together (a fast command's start and final report go
    -- in one take, and its workflow advances after one round)
    ORDER BY c.turn, c.command_due, c.command_id, c.report_id
    LIMIT %(limit)s
    FOR UPDATE OF o SKIP LOCKED
)
{outbox_taken}
