-- A concurrency limit of %(n)s on every execution (pgqueue limit set
-- --every-execution), for the limited burn-down.
INSERT INTO {limits} (scope, key, max_running) VALUES ('every_execution', '', %(n)s)
