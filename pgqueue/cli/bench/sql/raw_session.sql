-- The raw loops' plan guard, set once for the session before the timed loop (so
-- it costs them nothing per statement): each claim joins its picked rows back
-- to the table through the primary key, as pgqueue's own claim does under its
-- guard (set_limits.sql). On a small table, fresh statistics otherwise choose a
-- hash join over a scan of the whole table for every claim: at 20,000 rows the
-- minimal loop ran at half its speed, and was no ceiling at all.
SELECT set_config('enable_hashjoin', 'off', false),
       set_config('enable_mergejoin', 'off', false),
       set_config('enable_seqscan', 'off', false)
