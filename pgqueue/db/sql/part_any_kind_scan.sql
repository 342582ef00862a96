-- (a scan claim's pending rows for a worker of every kind, or of kinds a
-- parameter names, as the CTE named by the caller: the kind-less index in claim order;
-- the filter as in part_kind_scan.sql.)
{name} AS MATERIALIZED (
    SELECT c.execution_id, c.command_id, c.status, c.priority, c.due_at, c.tool_kind,
           c.concurrency_key
    FROM {command} AS c
    WHERE c.status = 'PENDING'
      AND c.due_at <= now()
      AND ({any_kind} OR coalesce(c.tool_kind, '') = ANY({tool_kinds}::text[] || '{{""}}'::text[]))
      AND {scan_filter}
    ORDER BY c.priority DESC, c.due_at, c.command_id
    LIMIT {limit}
    FOR UPDATE SKIP LOCKED
),
