-- The reports of one execution's commands in the outbox (sent ones are deleted):
-- waiting, or parked with the control plane's answer.
SELECT report_id, command_id, kind, created_at, parked_at, response_status,
       left(response_body, 200) AS response
FROM {outbox}
WHERE execution_id = %(execution_id)s
ORDER BY report_id
LIMIT %(limit)s
