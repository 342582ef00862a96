-- Never start a command of an execution that has ended. NoETL's own claim rule:
-- an execution has ended when it has a terminal event (not when its row says
-- FAILED: a failed step fails the row while the engine still issues the steps
-- its arcs lead to, and ends the execution only once they are reported).
-- After every claim (a scan claim or a claim by id), in its transaction and
-- its round trip (a trail of the claim's pipeline), where the schema has
-- NoETL's event table: the rows the claim just took of an execution that has
-- ended end CANCELLED, with the event that ended it. In the claim's own
-- transaction, a failure here undoes the claim as well: no row is left
-- claimed and not run.
UPDATE {command} AS c
SET status = 'CANCELLED',
    error = 'not started: execution ' || c.execution_id || ' has ended (' || t.event_type || ')',
    completed_at = now(),
    lease_expires_at = NULL,
    claim_token = NULL,
    updated_at = now()
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
-- the newest terminal event of each row's execution, if any (NoETL's
-- _fetch_execution_terminal_event): a probe of its (execution_id, event_type,
-- event_id) index per claimed row, whatever the size of the event log
CROSS JOIN LATERAL (
    SELECT e.event_type
    FROM {event} AS e
    WHERE e.execution_id = r.execution_id
      AND e.event_type IN ('playbook.completed', 'playbook.failed', 'workflow.completed',
                           'workflow.failed', 'execution.cancelled')
    ORDER BY e.event_id DESC
    LIMIT 1
) AS t
WHERE c.execution_id = r.execution_id
  AND c.command_id = r.command_id
RETURNING c.execution_id, c.command_id, t.event_type
