-- Empty the minimal table between runs (and restart its ids, so that every run
-- claims the same ids).
TRUNCATE {command} RESTART IDENTITY
