-- nack of a Claimed or Failed outcome: the attempt is spent. Either due again
-- after a backoff, or parked as FAILED (the dead letter) with the reason.
WITH written AS (
{nack}
),
woken AS (
{wake}
)
-- reading `woken` runs the wake-up (a waiter woken by a retry looks, and
-- waits on)
SELECT status, attempts, due_at, updated_at FROM written, woken
