-- (part of cancel_dead and cancel_ended: the SET list of a row, as `c`, just
-- claimed for an execution that has ended with event `t`: CANCELLED, saying
-- why, and no longer anyone's)
status = 'CANCELLED',
error = 'not started: execution ' || c.execution_id || ' has ended (' || t.event_type || ')',
completed_at = now(),
lease_expires_at = NULL,
claim_token = NULL,
updated_at = now()
