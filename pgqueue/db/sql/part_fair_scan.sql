-- (a fair-share claim's pending rows of one tool kind (or of every kind the
-- worker serves), as the CTEs {groups} and {name}: the groups (executions, or
-- concurrency keys) with PENDING rows of the kind, then the first rows of
-- each in claim order, as many each as spread the claim's {limit} evenly over
-- them. Read from the fair index (kind, group, claim order), so each step is
-- one index probe, however many rows a group holds; the filter is the
-- claim's own, as in part_kind_scan.sql.)
{groups} AS MATERIALIZED (
    -- a loose index scan: the next (kind, group) after the last, one probe
    -- each, up to twice the claim's size (the oldest groups first where ids
    -- grow with time, as NoETL's do)
    WITH RECURSIVE g AS (
        (SELECT coalesce(c.tool_kind, '') AS kind, c.{group} AS grp
         FROM {command} AS c
         WHERE c.status = 'PENDING'
           AND {kind_range}
           AND c.{group} IS NOT NULL
         ORDER BY coalesce(c.tool_kind, ''), c.{group}
         LIMIT 1)
        UNION ALL
        SELECT n.kind, n.grp
        FROM g
        CROSS JOIN LATERAL (
            SELECT coalesce(c.tool_kind, '') AS kind, c.{group} AS grp
            FROM {command} AS c
            WHERE c.status = 'PENDING'
              AND {kind_range}
              -- past the last group: a row comparison, so the index starts there
              AND (coalesce(c.tool_kind, ''), c.{group}) > (g.kind, g.grp)
            ORDER BY coalesce(c.tool_kind, ''), c.{group}
            LIMIT 1
        ) AS n
    )
    SELECT kind, grp FROM g LIMIT 2 * {limit}
),
{name} AS MATERIALIZED (
    SELECT f.*
    FROM {groups} AS gr
    CROSS JOIN LATERAL (
        SELECT c.execution_id, c.command_id, c.status, c.priority, c.due_at, c.tool_kind,
               c.concurrency_key
        FROM {command} AS c
        WHERE c.status = 'PENDING'
          -- the group's own rows: the kind a range of one value, so that only
          -- the fair index gives the order below (see part_kind_scan.sql); the
          -- group an equality, so a table partitioned by execution reads one
          -- partition
          AND coalesce(c.tool_kind, '') >= gr.kind
          AND coalesce(c.tool_kind, '') <= gr.kind
          AND c.{group} = gr.grp
          AND c.due_at <= now()
          AND {scan_filter}
        ORDER BY coalesce(c.tool_kind, ''), c.{group}, c.priority DESC, c.due_at, c.command_id
        -- an even share of the claim each (at least one)
        LIMIT (SELECT greatest(ceil({limit}::float8 / count(*)), 1)::int FROM {groups})
        -- locked here only under limits (claims one at a time); a plain claim
        -- locks the rows it takes once it has chosen them (part_fair_taken.sql)
        {locking}
    ) AS f
),
