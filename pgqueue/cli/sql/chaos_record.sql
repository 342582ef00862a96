-- The chaos tool's one effect: this execution of this command, by this worker.
INSERT INTO pgqueue_chaos.chaos_executions (command_id, worker_id)
VALUES (%(command_id)s, %(worker_id)s)
