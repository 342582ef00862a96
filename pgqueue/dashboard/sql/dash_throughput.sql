-- Commands finished per minute over the last hour, by outcome, for the chart.
SELECT extract(epoch FROM date_trunc('minute', completed_at))::bigint AS minute,
       status,
       count(*) AS commands
FROM {command}
-- a range of the finished index
WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED')
  AND completed_at >= date_trunc('minute', now()) - interval '59 minutes'
GROUP BY 1, 2
ORDER BY 1, 2
