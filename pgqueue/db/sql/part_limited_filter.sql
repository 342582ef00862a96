-- (claim_limited.sql's scans, as `c`, the kind test its kind (as in
-- part_plain_filter.sql): none of a paused or full kind, of a full
-- execution or key (walked past in the index), and none at all without the
-- exclusive claim lock while a limit exists)
{kind_test} NOT IN (SELECT key FROM full_kinds)
AND (NOT EXISTS (SELECT 1 FROM lim)
     OR current_setting('pgqueue.claim_lock', true) = 'exclusive')
AND c.execution_id <> ALL ((SELECT executions FROM full_groups)::bigint[])
AND (c.concurrency_key IS NULL
     OR c.concurrency_key <> ALL ((SELECT keys FROM full_groups)::text[]))
