-- A statement's deadline, set in the same pipeline just before it: for that
-- implicit transaction only (is_local), so nothing stays on the session.
SELECT set_config('statement_timeout', %(statement_timeout)s, true),
       set_config('lock_timeout', %(lock_timeout)s, true),
       -- The plan guard of the statements that join a batch of keys to the
       -- table (claim, completion, heartbeat, release, nack): 'off' for them.
       -- Without hash and merge joins and with sequential scans priced out,
       -- each reaches only the rows it names, through the primary key (one
       -- partition per key on NoETL's hash-partitioned table), whatever the
       -- table's size and however stale its statistics (a queue makes them
       -- stale at once): otherwise a small-looking table gets a hash join over
       -- a scan of every partition.
       set_config('enable_hashjoin', %(scans)s, true),
       set_config('enable_mergejoin', %(scans)s, true),
       set_config('enable_seqscan', %(scans)s, true)
