-- (a plain fair claim's rows, as the CTE `fair_taken`: the first {limit}
-- candidates by priority, round and claim order that it can lock now. Its
-- fair scans read without locking: locking every group's first rows (most of
-- them not taken) held rows a concurrent claimer had just claimed (a lock
-- taken as it rechecked them) until this statement ended, and that
-- claimer's completion of them waited: two processes went at a seventh of
-- one. A row another claimer holds is skipped and the next candidate taken
-- (the limit counts rows locked, so two claimers that chose alike still fill
-- their claims); one claimed since this statement's snapshot is PENDING no
-- more, and left.)
fair_taken AS MATERIALIZED (
    SELECT c.execution_id, c.command_id, c.status
    -- in order before the join, so the join reads as far as the limit only
    FROM (SELECT execution_id, command_id, priority, round, due_at
          FROM pending
          ORDER BY priority DESC, round, due_at, command_id) AS p
    JOIN {command} AS c
      ON c.execution_id = p.execution_id
     AND c.command_id = p.command_id
    WHERE c.status = 'PENDING'
    ORDER BY p.priority DESC, p.round, p.due_at, p.command_id
    LIMIT {limit}
    FOR UPDATE OF c SKIP LOCKED
),
