-- The raw baseline's one-row claim: lock one due row, skipping locked ones.
SELECT execution_id, command_id
FROM {command}
WHERE status = 'PENDING' AND due_at <= now()
ORDER BY priority DESC, due_at, command_id
LIMIT 1
FOR UPDATE SKIP LOCKED
