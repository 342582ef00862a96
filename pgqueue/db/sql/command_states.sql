-- The state of each command named (pgqueue requeue says why it took none).
SELECT command_id, status
FROM {command}
WHERE command_id = ANY(%(command_ids)s::bigint[])
