-- Empty the table between runs.
TRUNCATE {command}
