-- (claim_batch.sql's scans, as `c`, the kind test its kind (the literal of a
-- named kind's scan: a one-time check; the row's own in a scan of every kind): none of a paused kind, and
-- none at all while any concurrency limit exists: claim_limited.sql counts those.
-- The limit table named here is locked (shared) before the claim's snapshot is
-- taken, and a limit is written under an exclusive lock of it (limit_lock.sql):
-- a claim that cannot see a new limit has committed before the limit can be.
-- Rendered without fair share, none either while the fleet shares fairly:
-- the worker then asks which claim to run, and runs the fair one.)
{kind_test} <> ALL (ARRAY(SELECT tool_kind FROM {pauses}))
AND NOT EXISTS (SELECT 1 FROM {limits}){fair_guard}
