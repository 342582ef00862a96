-- (a scan claim's pending rows of one tool kind, the kind, as the CTE named by the caller;
-- rendered once per kind a worker serves, so each scan is a plain index range
-- in claim order. the filter is the claim's own: no paused kind and no
-- limit at all for claim_batch.sql; for claim_limited.sql, no full kind,
-- execution or key.)
{name} AS MATERIALIZED (
    SELECT c.execution_id, c.command_id, c.status, c.priority, c.due_at, c.tool_kind,
           c.concurrency_key
    FROM {command} AS c
    WHERE c.status = 'PENDING'
      -- the kind index's own expression ('' for a row with no kind), as a
      -- range of one value rather than an equality: with an equality the
      -- planner drops the kind from the ORDER BY below, and then a scan of
      -- the kind-blind pending index filtered by kind (every pending row of
      -- every kind read) looked as good to it on fresh statistics
      AND coalesce(c.tool_kind, '') >= {kind}
      AND coalesce(c.tool_kind, '') <= {kind}
      AND c.due_at <= now()
      AND {scan_filter}
    -- the kind index's whole order (its first column is one value here): no
    -- other index gives it, so no plan walks another kind-blind index instead
    ORDER BY coalesce(c.tool_kind, ''), c.priority DESC, c.due_at, c.command_id
    LIMIT {limit}
    FOR UPDATE SKIP LOCKED
),
