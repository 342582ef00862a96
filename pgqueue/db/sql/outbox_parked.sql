-- Reports the control plane refused for good, with its answer, oldest first.
SELECT report_id, execution_id, command_id, kind, response_status,
       left(response_body, 200) AS response, parked_at
FROM {outbox}
WHERE parked_at IS NOT NULL
ORDER BY report_id
LIMIT %(limit)s
