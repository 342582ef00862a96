-- How each report a relay took went, in the transaction that took it.
WITH settled AS (
    SELECT *
    FROM unnest(%(report_ids)s::bigint[], %(outcomes)s::text[], %(delays)s::float8[],
                %(statuses)s::int[], %(texts)s::text[])
         AS s(report_id, outcome, delay, status, text)
),
-- delivered (or a stale start): out of the outbox
gone AS (
    DELETE FROM {outbox} AS o
    USING settled AS s
    WHERE o.report_id = s.report_id
      AND s.outcome = 'delivered'
    RETURNING o.report_id, o.execution_id, o.command_id, o.kind
),
-- a start report that was on its way when its attempt failed: NoETL moved the
-- row, waiting for its retry, to RUNNING when it accepted the report. Put it
-- back to PENDING, or nobody would ever run it (a row pgqueue holds always has
-- a claim token; one NoETL's own workers hold has no pgqueue attempt)
restarted AS (
    UPDATE {command} AS c
    SET status = 'PENDING',
        updated_at = now()
    FROM gone AS g
    WHERE g.kind = 'started'
      AND c.execution_id = g.execution_id
      AND c.command_id = g.command_id
      AND c.status = 'RUNNING'
      AND c.claim_token IS NULL
      AND c.lease_expires_at IS NULL
      AND c.attempts > 0
    RETURNING c.command_id
)
-- tried again later, or parked with the response that refused it
UPDATE {outbox} AS o
SET deliveries = o.deliveries + 1,
    -- from the answer, not from the take: now() is when this transaction began,
    -- before the deliveries
    due_at = CASE WHEN s.outcome = 'retry'
                  THEN clock_timestamp() + s.delay * interval '1 second'
                  ELSE o.due_at END,
    parked_at = CASE WHEN s.outcome = 'parked' THEN clock_timestamp() END,
    response_status = s.status,
    response_body = CASE WHEN s.outcome = 'parked' THEN s.text END,
    last_error = s.text
FROM settled AS s
WHERE o.report_id = s.report_id
  AND s.outcome <> 'delivered'
