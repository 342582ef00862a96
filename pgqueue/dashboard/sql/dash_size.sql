-- The table's size as the catalog estimates it (the last VACUUM or ANALYZE),
-- summed over its partitions on a partitioned table: free to read at any size,
-- and what decides whether the overview counts exactly or estimates.
SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint AS estimated_rows
FROM pg_class AS c
-- the table itself
WHERE c.oid = %(relation)s::regclass
   -- or one of its partitions
   OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = %(relation)s::regclass)
