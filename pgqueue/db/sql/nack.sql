-- nack of a Claimed or Failed outcome: the attempt is spent. Either due again
-- after a backoff, or parked as FAILED (the dead letter) with the reason.
WITH written AS (
{nack}
)
SELECT status, attempts, due_at, updated_at FROM written
