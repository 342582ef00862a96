-- A statement's deadline, set in the same pipeline just before it: for that
-- implicit transaction only (is_local), so nothing stays on the session. The
-- values are literals (deadlines.settings_statement renders it once per role):
-- it runs before every statement of the hot path, with nothing to bind.
SELECT set_config('statement_timeout', {statement_timeout}, true),
       set_config('lock_timeout', {lock_timeout}, true),
       -- The plan guard of the statements that join a batch of keys to the
       -- table (claim, completion, heartbeat, release, nack): 'off' for them.
       -- Without hash and merge joins and with sequential scans priced out,
       -- each reaches only the rows it names, through the primary key (one
       -- partition per key on NoETL's hash-partitioned table), whatever the
       -- table's size and however stale its statistics (a queue makes them
       -- stale at once): otherwise a small-looking table gets a hash join over
       -- a scan of every partition.
       set_config('enable_hashjoin', {scans}, true),
       set_config('enable_mergejoin', {scans}, true),
       set_config('enable_seqscan', {scans}, true),
       -- The claim takes the first rows of an index in its order (each kind's
       -- pending rows): with sorting priced out, a statistics-blind plan
       -- cannot read every pending row of another index and sort them instead
       set_config('enable_sort', {sorts}, true),
       -- and no JIT for them: sequential scans priced out lift a plan's cost
       -- past jit_above_cost, and compiling a claim took 1.7 s of a 20 ms run
       set_config('jit', CASE WHEN {scans} = 'off' THEN 'off'
                              ELSE current_setting('jit') END, true)
