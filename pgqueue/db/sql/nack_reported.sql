-- nack_reported: the nack, and the reports given (a final one, when a reporter
-- is on) into the outbox in the same statement.
WITH written AS (
{nack}
),
reported AS (
{outbox_insert}
)
SELECT status, attempts, due_at, updated_at FROM written
