-- Commands waiting for another attempt after a failed one.
SELECT count(*) AS n
FROM {command}
WHERE status = 'PENDING'
  AND attempts > 0
