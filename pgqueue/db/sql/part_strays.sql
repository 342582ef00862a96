-- (part of claim_batch and claim_limited: the `strays` CTE's query.) A status
-- none of NoETL's (hand-written rows), claimed so they surface as Failed and
-- get parked instead of sitting unseen forever. Served by a partial index
-- that is normally empty: one cheap probe per claim.
    SELECT execution_id, command_id, status
    FROM {command}
    WHERE status IS NULL
       OR status NOT IN ('PENDING', 'CLAIMED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')
    -- in the index's order: on a table not analyzed yet (a new queue's first
    -- burst) the planner otherwise expects strays everywhere and scans the
    -- whole table for the first {limit}, in every claim
    ORDER BY command_id
    LIMIT {limit}
    FOR UPDATE SKIP LOCKED
