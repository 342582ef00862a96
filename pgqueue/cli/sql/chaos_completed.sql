-- Progress: how many commands are done.
SELECT count(*)
FROM {command}
WHERE status = 'COMPLETED'
