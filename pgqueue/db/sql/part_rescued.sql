-- (part of claim_batch and claim_limited: the `rescued` CTE's query.) CLAIMED or
-- RUNNING rows whose lease ran out (their worker died or stopped heartbeating).
-- They are few and the oldest work in the queue, so they go before fresh rows.
-- Served by the partial index on lease_expires_at. A rescue needs no room
-- under a concurrency limit (its row holds its place already), but a paused
-- kind's rows wait for the resume, and a rescue is a start that a rate counts
-- (claim_limited.sql ranks it with the pending rows).
    SELECT execution_id, command_id, status, priority, due_at, tool_kind, concurrency_key
    FROM {command}
    WHERE status IN ('CLAIMED', 'RUNNING')
      AND lease_expires_at < now()
      -- only tool kinds this worker can run; a row with no tool kind matches
      -- every worker so that it surfaces as Failed instead of waiting forever
      AND ({any_kind} OR tool_kind = ANY({tool_kinds}) OR coalesce(tool_kind, '') = '')
      AND NOT EXISTS (SELECT 1 FROM {pauses} AS z WHERE z.tool_kind = {command}.tool_kind)
    ORDER BY lease_expires_at
    LIMIT {limit}
    -- a row another claimer is locking right now is not ours: skip, don't wait
    FOR UPDATE SKIP LOCKED
