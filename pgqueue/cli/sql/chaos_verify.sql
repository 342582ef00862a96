-- What the run must prove, read from the tables in one statement.
SELECT
    -- completed: every command, in the end
    (SELECT count(*) FROM {command} WHERE status = 'COMPLETED') AS completed,
    -- completed twice: a second transition to COMPLETED, as the trigger saw it
    (SELECT count(*)
     FROM (SELECT command_id
           FROM pgqueue_chaos.chaos_completions
           GROUP BY command_id
           HAVING count(*) > 1) AS twice) AS completed_twice,
    -- never executed: a command its tool never ran
    (SELECT count(*)
     FROM {command} AS c
     WHERE NOT EXISTS (SELECT 1
                       FROM pgqueue_chaos.chaos_executions AS e
                       WHERE e.command_id = c.command_id)) AS never_executed,
    -- left leased: a claim nobody finished or gave back
    (SELECT count(*) FROM {command} WHERE status IN ('CLAIMED', 'RUNNING')) AS left_leased
