-- The machine's ceiling for any queue (pgqueue bench): the smallest table a
-- SKIP LOCKED queue can run on. No lease, no fence, no trigger, no NOTIFY.
CREATE TABLE {command} (
    -- the claim order, drawn by the table itself
    id bigserial PRIMARY KEY,
    status text NOT NULL DEFAULT 'PENDING',
    attempts int NOT NULL DEFAULT 0,
    payload jsonb NOT NULL DEFAULT '{{}}',
    created_at timestamptz NOT NULL DEFAULT now()
);
-- the one index a claim reads: pending ids, in order
CREATE INDEX ON {command} (id) WHERE status = 'PENDING'
