-- Fresh statistics and visibility before a timed run, as a table that has been
-- in use a while has (autovacuum would do it within a minute).
VACUUM ANALYZE {command}
