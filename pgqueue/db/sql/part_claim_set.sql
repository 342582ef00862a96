-- (part of claim_batch and claim_target: the SET list of a claim, as `c`)
status = 'CLAIMED',
worker_id = {worker_id},
claimed_at = now(),
started_at = NULL,
lease_expires_at = now() + {lease},
-- a new token per claim statement, drawn once (an uncorrelated sub-select is
-- an init plan): every later write is fenced on the row's key and this token,
-- so a row claimed again has a token its old holder does not know. Drawn per
-- row it would be a good part of the claim's own cost. Kept for the rest of
-- the transaction as pgqueue.claim_token: the look for ended executions that
-- follows a claim in its transaction (cancel_ended.sql) finds its rows by it.
claim_token = (SELECT set_config('pgqueue.claim_token', gen_random_uuid()::text, true)::uuid),
-- a rescued row's lost attempt counts (SET sees the old status)
attempts = c.attempts + coalesce(c.status IN ('CLAIMED', 'RUNNING'), false)::int,
-- NoETL's own 1-based attempt number, kept in step for its readers
attempt = c.attempts + coalesce(c.status IN ('CLAIMED', 'RUNNING'), false)::int + 1,
-- a rescued row's lost attempt goes in its history: whose it was, and when
attempt_log = CASE WHEN c.status IN ('CLAIMED', 'RUNNING')
                   THEN {attempt_log}(c.attempt_log, jsonb_build_object(
                            'attempt', c.attempts + 1, 'worker', c.worker_id,
                            'claimed_at', c.claimed_at, 'started_at', c.started_at,
                            'ended_at', c.lease_expires_at,
                            'error', 'lease expired: its worker stopped answering'))
                   ELSE c.attempt_log END,
updated_at = now()
