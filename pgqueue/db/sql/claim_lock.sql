-- Before a limited or fair scan claim, and a claim by id, in its transaction:
-- the queue's claim lock, exclusive while any limit exists (a concurrency
-- limit or a rate), shared otherwise. Claims under limits then run one after
-- the other, each counting (in a snapshot its statement takes after this)
-- every claim committed before it, and every start those claims wrote: two
-- can never both see the same free room. A claim with no limit to count runs
-- with no such lock (the plain claim, claim_batch.sql, with no lead at all):
-- a new limit's write waits for it instead (limit_lock.sql). What was taken is
-- recorded for the claim statement (pgqueue.claim_lock), which takes no
-- pending row under a limit it holds no exclusive lock for, and returned, for
-- the worker to pick the claim statement (claim_batch.sql, or
-- claim_limited.sql) of its next claim, whether a rate is set (then
-- rate_next.sql follows that claim), and the fleet's fair share (the group
-- its next claim spreads over, or NULL).
SELECT CASE
    WHEN m.claim_lock = 'exclusive'
    THEN set_config('pgqueue.claim_lock',
                    pg_advisory_xact_lock(1885827445, hashtext({queue_name}))::text
                        || 'exclusive', true)
    ELSE set_config('pgqueue.claim_lock',
                    pg_advisory_xact_lock_shared(1885827445, hashtext({queue_name}))::text
                        || 'shared', true)
END AS claim_lock,
m.rated,
m.fair
-- the mode, read once (part_claim_mode.sql)
FROM ({claim_mode}) AS m
