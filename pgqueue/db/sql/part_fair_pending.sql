-- (a fair-share claim's candidates, as the CTE `pending`: the rows of its
-- scans in claim order (so a row of high priority is never missed) and of its
-- fair scans (the first rows of each group), once each, with the round each
-- would be taken in: how many of its group pgqueue workers hold now (CLAIMED
-- or RUNNING under a lease) plus its rank in its group. Taken by priority,
-- then round, then claim order: round-robin over the groups, the group with
-- the fewest running first, priority still first.)
fair_running AS MATERIALIZED (
    SELECT coalesce(jsonb_object_agg(h.grp, h.running), '{{}}') AS m
    FROM (
        SELECT c.{group}::text AS grp, count(*) AS running
        FROM (
            SELECT c.{group}
            FROM {command} AS c
            WHERE c.status IN ('CLAIMED', 'RUNNING')
              AND c.lease_expires_at IS NOT NULL
            -- the lease index's order (see claim_limited.sql's `held`)
            ORDER BY c.lease_expires_at
        ) AS c
        WHERE c.{group} IS NOT NULL
        GROUP BY 1
    ) AS h
),
pending AS (
    SELECT u.*,
           coalesce(((SELECT m FROM fair_running) ->> u.{group}::text)::int, 0)
           + row_number() OVER (PARTITION BY u.{group}
                                ORDER BY u.priority DESC, u.due_at, u.command_id) AS round
    FROM ({union}) AS u
),
