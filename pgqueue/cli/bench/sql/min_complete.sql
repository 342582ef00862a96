-- The raw loop's completion on the minimal table: the claimed batch in one
-- statement.
UPDATE {command}
SET status = 'COMPLETED'
WHERE id = ANY(%(ids)s::bigint[])
