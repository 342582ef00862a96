-- The raw loop's claim on the minimal table: up to {limit} pending rows in id
-- order, skipping those another claimer holds, marked taken in the same
-- statement. The size is a literal so that PostgreSQL keeps one plan.
UPDATE {command} AS c
SET status = 'RUNNING', attempts = c.attempts + 1
FROM (
    SELECT id
    FROM {command}
    WHERE status = 'PENDING'
    ORDER BY id
    LIMIT {limit}
    FOR UPDATE SKIP LOCKED
) AS picked
WHERE c.id = picked.id
RETURNING c.id
