-- The scan claim under flow control: claim_batch.sql's claim, and no limit's
-- key gets more commands CLAIMED or RUNNING than its max_running. The worker
-- claims with this statement while any limit exists (claim_lock.sql tells it
-- which to use next). Every value is a literal, as in claim_batch.sql.
--
-- Decided here, by the database, the same for every worker: claim_lock.sql
-- ran first in this transaction and took the queue's claim lock exclusively,
-- so the counts below (read in a snapshot taken after that lock) include every
-- claim committed before: two claims can never both see the same free room. A
-- claim that holds no exclusive lock (a limit appeared after its lock was
-- taken) takes no pending row: its counts could miss a claim under way.
WITH
-- The limits as they are now (a small table; empty unless an operator set one).
lim AS MATERIALIZED (
    SELECT scope, key, max_running
    FROM {limits}
),
-- What pgqueue workers hold now (CLAIMED or RUNNING under a lease), for the
-- limits to count: read only when a limit exists. A lease that ran out still
-- counts until its command is rescued or ends: its rescue takes the place its
-- lost holder had, never one more (and a late heartbeat of the lost holder
-- cannot make two of it). Served by the lease index: as many rows as the
-- fleet's slots.
held AS MATERIALIZED (
    SELECT tool_kind, execution_id, concurrency_key
    FROM {command}
    WHERE status IN ('CLAIMED', 'RUNNING')
      AND lease_expires_at IS NOT NULL
      AND EXISTS (SELECT 1 FROM lim)
    -- the lease index's order: with sorting priced out no plan reads another
    -- index (NoETL's (execution_id, status)) and filters every row it holds
    ORDER BY lease_expires_at
),
-- The limits and what holds a place under each, as two maps from
-- '<scope>:<key>' ('tool_kind:http', 'execution:42', 'key:tenant-9',
-- 'every_execution:'): every look-up below is one probe of a map, not a scan
-- of the held rows (the plan guard allows no hash join, and a scan per
-- candidate cost half the claim's rate).
maxes AS MATERIALIZED (
    SELECT coalesce(jsonb_object_agg(scope || ':' || key, max_running), '{{}}') AS m
    FROM lim
),
counts AS MATERIALIZED (
    SELECT coalesce(jsonb_object_agg(k, n), '{{}}') AS m
    FROM (
        SELECT 'tool_kind:' || coalesce(tool_kind, '') AS k, count(*) AS n
        FROM held GROUP BY 1
        UNION ALL
        SELECT 'execution:' || execution_id, count(*) FROM held GROUP BY 1
        UNION ALL
        SELECT 'key:' || concurrency_key, count(*)
        FROM held WHERE concurrency_key IS NOT NULL GROUP BY 1
    ) AS c
),
-- Each limited key at or over its limit: the scans below skip its rows.
full_kinds AS MATERIALIZED (
    SELECT l.key
    FROM lim AS l
    WHERE l.scope = 'tool_kind'
      AND coalesce(((SELECT m FROM counts) ->> ('tool_kind:' || l.key))::int, 0)
          >= l.max_running
    UNION ALL
    SELECT tool_kind FROM {pauses}
),
full_groups AS MATERIALIZED (
    SELECT coalesce(array_agg(g.execution_id) FILTER (WHERE g.scope = 'execution'), '{{}}')
               AS executions,
           coalesce(array_agg(g.key) FILTER (WHERE g.scope = 'key'), '{{}}') AS keys
    FROM (
        SELECT 'execution' AS scope, h.execution_id, NULL::text AS key
        FROM (SELECT DISTINCT execution_id FROM held) AS h
        -- an execution's own limit, else the default for every execution
        WHERE ((SELECT m FROM counts) ->> ('execution:' || h.execution_id))::int
              >= coalesce(((SELECT m FROM maxes) ->> ('execution:' || h.execution_id))::int,
                          ((SELECT m FROM maxes) ->> 'every_execution:')::int)
        UNION ALL
        SELECT 'key', NULL, l.key
        FROM lim AS l
        WHERE l.scope = 'key'
          AND coalesce(((SELECT m FROM counts) ->> ('key:' || l.key))::int, 0) >= l.max_running
    ) AS g
),
-- Rescue first (part_rescued.sql): a rescue needs no room.
rescued AS MATERIALIZED (
{rescued}
),
-- Then due PENDING rows, highest priority first, oldest due first, then by id
-- for a stable order: a worker that names its kinds reads each kind's rows
-- from the kind's own index (part_kind_scan.sql, one CTE per kind), none of a
-- paused or full kind, and skips the rows of a full execution or key
-- (part_limited_filter.sql); a worker of every kind walks the kind-less index.
{limited_scans}
-- The pending rows this claim takes: with no limit, the first {limit} in claim
-- order. With limits, a row is taken only while every limit it falls under has
-- room: its rank among the candidates of its kind, of its execution and of its
-- key, in claim order, within what that key has free. (A candidate left out by
-- one limit still holds its rank under the others: the claim may take fewer
-- than it could, never more.)
chosen AS (
    SELECT execution_id, command_id, status, priority, due_at
    FROM pending
    WHERE NOT EXISTS (SELECT 1 FROM lim)
    UNION ALL
    SELECT r.execution_id, r.command_id, r.status, r.priority, r.due_at
    FROM (
        SELECT p.*,
               row_number() OVER (PARTITION BY p.tool_kind
                                  ORDER BY p.priority DESC, p.due_at, p.command_id) AS in_kind,
               row_number() OVER (PARTITION BY p.execution_id
                                  ORDER BY p.priority DESC, p.due_at, p.command_id) AS in_execution,
               row_number() OVER (PARTITION BY p.concurrency_key
                                  ORDER BY p.priority DESC, p.due_at, p.command_id) AS in_key
        FROM pending AS p
        WHERE EXISTS (SELECT 1 FROM lim)
    ) AS r
    CROSS JOIN LATERAL (
        SELECT
            ((SELECT m FROM maxes) ->> ('tool_kind:' || coalesce(r.tool_kind, '')))::int
            - coalesce(((SELECT m FROM counts) ->> ('tool_kind:' || coalesce(r.tool_kind, '')))::int, 0)
                AS kind_room,
            coalesce(((SELECT m FROM maxes) ->> ('execution:' || r.execution_id))::int,
                     ((SELECT m FROM maxes) ->> 'every_execution:')::int)
            - coalesce(((SELECT m FROM counts) ->> ('execution:' || r.execution_id))::int, 0)
                AS execution_room,
            ((SELECT m FROM maxes) ->> ('key:' || r.concurrency_key))::int
            - coalesce(((SELECT m FROM counts) ->> ('key:' || r.concurrency_key))::int, 0)
                AS key_room
    ) AS room
    WHERE (room.kind_room IS NULL OR r.in_kind <= room.kind_room)
      AND (room.execution_room IS NULL OR r.in_execution <= room.execution_room)
      AND (room.key_room IS NULL OR r.in_key <= room.key_room)
),
-- Strays, parked as Failed (part_strays.sql).
strays AS MATERIALIZED (
{strays}
),
-- Rescued rows first, then strays, then pending ones, {limit} in all. When a rescue took
-- some places, the pending rows left over stay locked only until this
-- statement ends, untouched.
picked AS (
    SELECT execution_id, command_id, status FROM rescued
    UNION ALL
    SELECT execution_id, command_id, status FROM strays
    UNION ALL
    (SELECT execution_id, command_id, status
     FROM chosen
     ORDER BY priority DESC, due_at, command_id
     LIMIT {limit})
    LIMIT {limit}
)
UPDATE {command} AS c
SET {claim_set}
FROM picked
-- the full primary key, so a hash-partitioned table prunes to one partition
WHERE c.execution_id = picked.execution_id
  AND c.command_id = picked.command_id
RETURNING {claimed_row}, picked.status AS previous_status
