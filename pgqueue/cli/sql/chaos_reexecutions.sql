-- Every execution of a command that ran more than once, in order, to explain
-- each re-execution by a fault the run injected.
SELECT command_id, worker_id, extract(epoch FROM at)
FROM pgqueue_chaos.chaos_executions
WHERE command_id IN (SELECT command_id
                     FROM pgqueue_chaos.chaos_executions
                     GROUP BY command_id
                     HAVING count(*) > 1)
ORDER BY command_id, at
