-- (part of claim_batch and claim_target: the SET list of a claim, as `c`)
status = 'CLAIMED',
worker_id = %(worker_id)s,
claimed_at = now(),
started_at = NULL,
lease_expires_at = now() + %(lease)s,
-- a new token per claim: every later write is fenced on it
claim_token = gen_random_uuid(),
-- a rescued row's lost attempt counts (SET sees the old status)
attempts = c.attempts + coalesce(c.status IN ('CLAIMED', 'RUNNING'), false)::int,
-- NoETL's own 1-based attempt number, kept in step for its readers
attempt = c.attempts + coalesce(c.status IN ('CLAIMED', 'RUNNING'), false)::int + 1,
updated_at = now()
