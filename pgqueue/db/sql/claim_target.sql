-- Targeted claim: try to take one named command; report what stood in the way
-- otherwise. One statement, so it costs one round trip and holds no lock after.
WITH
-- Lock the named row without waiting: a row another claimer holds right now is
-- AlreadyClaimed, not worth a wait. LIMIT 2 detects an id found in several
-- executions when no execution id narrows the look-up.
target AS MATERIALIZED (
    SELECT execution_id, command_id, status, due_at, lease_expires_at
    FROM {command}
    WHERE command_id = %(command_id)s
      AND (%(execution_id)s::bigint IS NULL OR execution_id = %(execution_id)s::bigint)
    LIMIT 2
    FOR UPDATE SKIP LOCKED
),
-- Take it (`claimed`) when it is claimable: PENDING and due, or leased with an expired lease.
claimed AS (
    UPDATE {command} AS c
    SET {claim_set}
    FROM target AS t
    WHERE c.execution_id = t.execution_id
      AND c.command_id = t.command_id
      AND (SELECT count(*) FROM target) = 1
      -- due, and held back by no pause and no full limit (claim_lock.sql ran
      -- first: while a limit exists, only under its exclusive lock)
      AND ((t.status = 'PENDING' AND t.due_at <= now()
            AND ({held_back}) IS NULL
            AND (NOT EXISTS (SELECT 1 FROM {limits})
                 OR current_setting('pgqueue.claim_lock', true) = 'exclusive'))
           -- a rescue needs no room under a concurrency limit (its row holds its
           -- place), but waits out a pause and a full rate: it is a start
           OR (t.status IN ('CLAIMED', 'RUNNING') AND t.lease_expires_at < now()
               AND NOT EXISTS (SELECT 1 FROM {pauses} AS p WHERE p.tool_kind = c.tool_kind)
               AND {rate_held} IS NULL)
           -- a stray status: taken, to be parked as Failed
           OR t.status IS NULL
           OR t.status NOT IN ('PENDING', 'CLAIMED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'))
      -- only tool kinds this worker can run (or none, to surface as Failed)
      AND ({any_kind} OR c.tool_kind = ANY({tool_kinds}) OR coalesce(c.tool_kind, '') = '')
    RETURNING {claimed_row}, t.status AS previous_status, c.concurrency_key
),
-- Its start, under each rate that counts it, as a scan claim writes its own
{started}
-- 'taken': ours. 'seen': locked by us but not claimable (the caller reads why,
-- and `reason` says what flow control holds back: a pause, a full limit or
-- rate).
-- 'busy': the row exists but another transaction holds its lock.
SELECT 'taken' AS verdict, execution_id, command_id, step_name, tool_kind, context,
       attempts, max_attempts, claim_token, meta, loop_event_id, iter_index,
       previous_status AS status,
       NULL::timestamptz AS due_at, NULL::text AS reason
FROM claimed
UNION ALL
SELECT 'seen', t.execution_id, t.command_id, NULL, c.tool_kind, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, t.status, t.due_at,
       CASE WHEN t.status = 'PENDING' THEN coalesce(
           ({held_back}),
           CASE WHEN EXISTS (SELECT 1 FROM {limits})
                     AND current_setting('pgqueue.claim_lock', true) IS DISTINCT FROM 'exclusive'
                THEN 'a concurrency limit was just set: claim it again' END)
            -- a lost holder's row a rate holds back from its rescue
            WHEN t.status IN ('CLAIMED', 'RUNNING') AND t.lease_expires_at < now()
            THEN {rate_held}
       END
FROM target AS t
JOIN {command} AS c ON c.execution_id = t.execution_id AND c.command_id = t.command_id
WHERE NOT EXISTS (SELECT 1 FROM claimed)
UNION ALL
SELECT 'busy', execution_id, command_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       status, NULL, NULL
FROM {command}
WHERE command_id = %(command_id)s
  AND (%(execution_id)s::bigint IS NULL OR execution_id = %(execution_id)s::bigint)
  AND NOT EXISTS (SELECT 1 FROM target)
