-- The scan claim under flow control: claim_batch.sql's claim, and no limit's
-- key gets more commands CLAIMED or RUNNING than its max_running, nor more
-- starts within its rate's window than the rate allows. The worker claims with
-- this statement while any limit exists (claim_lock.sql tells it which to use
-- next). Every value is a literal, as in claim_batch.sql.
--
-- Decided here, by the database, the same for every worker: claim_lock.sql
-- ran first in this transaction and took the queue's claim lock exclusively,
-- so the counts below (read in a snapshot taken after that lock) include every
-- claim committed before: two claims can never both see the same free room. A
-- claim that holds no exclusive lock (a limit appeared after its lock was
-- taken) takes no pending row: its counts could miss a claim under way. The
-- same holds for the starts a rate counts: each claim writes its own starts
-- (`started` below) before its transaction commits and the lock is let go.
WITH
-- The limits as they are now (a small table; empty unless an operator set one).
lim AS MATERIALIZED (
    SELECT scope, key, max_running, rate_count
    FROM {limits}
),
-- The rates as maps, and the starts within each rate's window
-- (part_rate_maps.sql); empty maps in the claim rendered for no rate, which
-- takes nothing while a rate exists (see `chosen`).
rates AS MATERIALIZED (
{rate_maps}
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
    -- under a rate: a kind whose rate's window is full (part_rate_full.sql)
    {rate_full_kinds}
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
        -- under a rate: an execution or a key whose rate's window is full
        {rate_full_groups}
    ) AS g
),
-- Rescue first (part_rescued.sql): a rescue needs no room under a
-- concurrency limit, but it is a start that a rate counts.
rescued AS MATERIALIZED (
{rescued}
),
-- Then due PENDING rows, highest priority first, oldest due first, then by id
-- for a stable order: a worker that names its kinds reads each kind's rows
-- from the kind's own index (part_kind_scan.sql, one CTE per kind), none of a
-- paused or full kind, and skips the rows of a full execution or key
-- (part_limited_filter.sql); a worker of every kind walks the kind-less index.
{limited_scans}
-- The candidates: rescued rows first (the oldest work), then pending ones,
-- each with its round in a fair claim (part_fair_pending.sql; else 0).
candidates AS (
    SELECT true AS rescue, execution_id, command_id, status, priority, due_at, tool_kind,
           concurrency_key, 0::bigint AS round
    FROM rescued
    UNION ALL
    SELECT false, execution_id, command_id, status, priority, due_at, tool_kind,
           concurrency_key, round
    FROM pending
),
-- The candidates this claim takes: with no limit, all of them (the first
-- {limit} in claim order, below). With limits, a row is taken only while
-- every limit it falls under has room: its rank among the candidates of its
-- kind, of its execution and of its key, in claim order, within what that key
-- has free. Under a concurrency limit a rescue needs no room and a pending row
-- ranks after the rescues of its key; under a rate every start counts. (A
-- candidate left out by one limit still holds its rank under the others: the
-- claim may take fewer than it could, never more.)
chosen AS (
    SELECT execution_id, command_id, status, priority, due_at, rescue, tool_kind,
           concurrency_key, round
    FROM candidates
    WHERE NOT EXISTS (SELECT 1 FROM lim)
    UNION ALL
    SELECT r.execution_id, r.command_id, r.status, r.priority, r.due_at, r.rescue,
           r.tool_kind, r.concurrency_key, r.round
    FROM (
        SELECT p.*,
               row_number() OVER in_kind AS in_kind,
               count(*) FILTER (WHERE p.rescue) OVER in_kind AS rescues_in_kind,
               row_number() OVER in_execution AS in_execution,
               count(*) FILTER (WHERE p.rescue) OVER in_execution AS rescues_in_execution,
               row_number() OVER in_key AS in_key,
               count(*) FILTER (WHERE p.rescue) OVER in_key AS rescues_in_key
        FROM candidates AS p
        WHERE EXISTS (SELECT 1 FROM lim)
        -- ranked in the order the claim takes them (see `picked`)
        WINDOW in_kind AS (PARTITION BY p.tool_kind ORDER BY p.rescue DESC, p.priority DESC,
                                                            p.round, p.due_at, p.command_id),
               in_execution AS (PARTITION BY p.execution_id
                                ORDER BY p.rescue DESC, p.priority DESC, p.round, p.due_at,
                                         p.command_id),
               in_key AS (PARTITION BY p.concurrency_key
                          ORDER BY p.rescue DESC, p.priority DESC, p.round, p.due_at,
                                   p.command_id)
    ) AS r
    CROSS JOIN LATERAL (
        SELECT
            -- places free under each concurrency limit
            ((SELECT m FROM maxes) ->> ('tool_kind:' || coalesce(r.tool_kind, '')))::int
            - coalesce(((SELECT m FROM counts) ->> ('tool_kind:' || coalesce(r.tool_kind, '')))::int, 0)
                AS kind_room,
            coalesce(((SELECT m FROM maxes) ->> ('execution:' || r.execution_id))::int,
                     ((SELECT m FROM maxes) ->> 'every_execution:')::int)
            - coalesce(((SELECT m FROM counts) ->> ('execution:' || r.execution_id))::int, 0)
                AS execution_room,
            ((SELECT m FROM maxes) ->> ('key:' || r.concurrency_key))::int
            - coalesce(((SELECT m FROM counts) ->> ('key:' || r.concurrency_key))::int, 0)
                AS key_room,
            -- starts left in each rate's window
            ((SELECT n FROM rates) ->> ('tool_kind:' || coalesce(r.tool_kind, '')))::int
            - coalesce(((SELECT used FROM rates) ->> ('tool_kind:' || coalesce(r.tool_kind, '')))::int, 0)
                AS kind_starts,
            coalesce(((SELECT n FROM rates) ->> ('execution:' || r.execution_id))::int,
                     ((SELECT n FROM rates) ->> 'every_execution:')::int)
            - coalesce(((SELECT used FROM rates) ->> ('execution:' || r.execution_id))::int, 0)
                AS execution_starts,
            ((SELECT n FROM rates) ->> ('key:' || r.concurrency_key))::int
            - coalesce(((SELECT used FROM rates) ->> ('key:' || r.concurrency_key))::int, 0)
                AS key_starts
    ) AS room
    WHERE (r.rescue
           OR ((room.kind_room IS NULL OR r.in_kind - r.rescues_in_kind <= room.kind_room)
               AND (room.execution_room IS NULL
                    OR r.in_execution - r.rescues_in_execution <= room.execution_room)
               AND (room.key_room IS NULL OR r.in_key - r.rescues_in_key <= room.key_room)))
      AND (room.kind_starts IS NULL OR r.in_kind <= room.kind_starts)
      AND (room.execution_starts IS NULL OR r.in_execution <= room.execution_starts)
      AND (room.key_starts IS NULL OR r.in_key <= room.key_starts)
      -- rendered for no rate while one exists: nothing (the next claim counts it)
      {rate_guard}
),
-- Strays, parked as Failed (part_strays.sql).
strays AS MATERIALIZED (
{strays}
),
-- Rescued rows first, then strays, then pending ones (by priority, then
-- round in a fair claim, then claim order), {limit} in all. Rows
-- locked and left over (a rescue or a pending row with no room, or past the
-- {limit}) stay locked only until this statement ends, untouched.
picked AS (
    SELECT execution_id, command_id, status FROM chosen WHERE rescue
    UNION ALL
    SELECT execution_id, command_id, status FROM strays
    UNION ALL
    (SELECT execution_id, command_id, status
     FROM chosen
     WHERE NOT rescue
     ORDER BY priority DESC, round, due_at, command_id
     LIMIT {limit})
    LIMIT {limit}
),
claimed AS (
    UPDATE {command} AS c
    SET {claim_set}
    FROM picked
    -- the full primary key, so a hash-partitioned table prunes to one partition
    WHERE c.execution_id = picked.execution_id
      AND c.command_id = picked.command_id
    RETURNING {claimed_row}, picked.status AS previous_status, c.concurrency_key
)
-- under a rate: each start it counts (part_started.sql)
{rate_starts}
SELECT execution_id, command_id, step_name, tool_kind, context, attempts, max_attempts,
       claim_token, meta, loop_event_id, iter_index, previous_status
FROM claimed
