-- Send parked reports again (pgqueue requeue --reports): due now, under the
-- same idempotency key as before.
WITH requeued AS (
    UPDATE {outbox}
    SET parked_at = NULL,
        due_at = now(),
        response_status = NULL,
        response_body = NULL
    WHERE parked_at IS NOT NULL
      -- all of them, or the ones named
      AND (%(report_ids)s::bigint[] IS NULL OR report_id = ANY(%(report_ids)s::bigint[]))
    RETURNING report_id
)
SELECT count(*) AS requeued FROM requeued
