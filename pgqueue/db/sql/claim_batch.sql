-- Scan claim: take up to {limit} claimable commands for one worker in one
-- round trip, and commit them as CLAIMED with a fresh lease and fencing token.
-- The gateway writes every value in as a literal: the claim's size, the worker
-- id, the lease and the tool kinds, all fixed per source. Knowing the size, the
-- planner sees how few rows each part returns (with a parameter there, a
-- generic plan hash-joins the picked rows through the whole table, so every
-- claim would be planned anew). With no parameter left, a prepared claim gets
-- its generic plan from its first run instead of after five custom plans:
-- each connection plans it once (docs/performance.md has the figures).
WITH
-- Rescue first (part_rescued.sql).
rescued AS MATERIALIZED (
{rescued}
),
-- Then due PENDING rows, highest priority first, oldest due first, then by id
-- for a stable order, in the CTEs below (part_kind_scan.sql): for a worker that
-- names its kinds, one scan of each kind's own index (and `kindless`: rows with
-- no kind, which every worker takes to park them as Failed), so rows of other
-- kinds cost nothing however many wait; for a worker of every kind, one scan
-- of the kind-less index. A paused kind is not read. While any concurrency
-- limit exists this statement takes no pending row: the worker claims with
-- claim_limited.sql instead, which counts them (see claim_lock.sql).
{kind_scans}
-- Strays, parked as Failed (part_strays.sql).
strays AS MATERIALIZED (
{strays}
),
-- Rescued rows first, then strays and rows with no kind, then pending ones
-- (the pending rows: a single scan as it comes, in its index's order; several
-- kinds' merged in claim order), {limit} in all. When a rescue took some
-- places, the pending rows left over stay locked only until this statement
-- ends, untouched.
picked AS (
    SELECT execution_id, command_id, status FROM rescued
    -- a rescue is a start: while a limit exists (a rate may be one),
    -- claim_limited.sql takes it (this claim runs then only until the next)
    WHERE NOT EXISTS (SELECT 1 FROM {limits})
    UNION ALL
    SELECT execution_id, command_id, status FROM strays
    UNION ALL
    {pending_rows}
    LIMIT {limit}
)
UPDATE {command} AS c
SET {claim_set}
FROM picked
-- the full primary key, so a hash-partitioned table prunes to one partition
WHERE c.execution_id = picked.execution_id
  AND c.command_id = picked.command_id
RETURNING {claimed_row}, picked.status AS previous_status
