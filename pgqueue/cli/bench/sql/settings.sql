-- The server settings a reader of the figures needs to weigh them.
SELECT name, setting
FROM pg_settings
WHERE name IN ('server_version', 'fsync', 'synchronous_commit', 'shared_buffers',
               'max_connections')
