-- (claim_batch.sql's scans, as `c`, the kind test its kind (the literal of a
-- named kind's scan: a one-time check; the row's own in a scan of every kind): none of a paused kind, and
-- none at all while any concurrency limit exists: claim_limited.sql counts those)
{kind_test} <> ALL (ARRAY(SELECT tool_kind FROM {pauses}))
AND NOT EXISTS (SELECT 1 FROM {limits})
