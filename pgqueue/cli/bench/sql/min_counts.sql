-- Rows by status on the minimal table, for the exactly-once check.
SELECT status, count(*)
FROM {command}
GROUP BY status
