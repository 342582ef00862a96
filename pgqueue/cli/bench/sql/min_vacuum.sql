-- Fresh statistics and visibility before a timed run, as for pgqueue's table.
VACUUM ANALYZE {command}
