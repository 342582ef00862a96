-- Why a fenced write found nothing: the row as it stands now.
SELECT status, claim_token = %(token)s AS same_claim
FROM {command}
WHERE execution_id = %(execution_id)s
  AND command_id = %(command_id)s
