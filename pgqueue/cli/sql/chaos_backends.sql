-- The chaos workers' own backends (each worker names its connections), to cut.
SELECT pid, application_name
FROM pg_stat_activity
WHERE application_name LIKE 'chaos-%%'
