-- After a scan claim, in its transaction and its round trip (a trail of the
-- claim's pipeline), where the schema has NoETL's event table: the rows the
-- claim just took of an execution that has ended end CANCELLED, with the event
-- that ended it (cancel_dead.sql's rule, which a claim by id still runs
-- apart). In the claim's own transaction, a failure here undoes the claim as
-- well: no row is left claimed and not run.
UPDATE {command} AS c
SET {ended_set}
FROM (
    -- the claim's rows: its lease, which the lease index finds by equality
    -- (now() is the transaction's, the claim's own), and the token it kept
    -- for this transaction (part_claim_set.sql); none after a claim of none
    SELECT p.execution_id, p.command_id
    FROM {command} AS p
    WHERE p.status IN ('CLAIMED', 'RUNNING')
      AND p.lease_expires_at IS NOT NULL
      AND p.lease_expires_at = now() + {lease}
      AND p.claim_token = nullif(current_setting('pgqueue.claim_token', true), '')::uuid
) AS r
-- the newest terminal event of each row's execution (part_terminal_event.sql)
{terminal_event}
WHERE c.execution_id = r.execution_id
  AND c.command_id = r.command_id
RETURNING c.execution_id, c.command_id, t.event_type
