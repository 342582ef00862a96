-- Wake the callers of pgqueue.wait whose command has finished: after a
-- completion, in its transaction (so the notifications go out with its commit),
-- only while the worker knows of waiters; and once when a waiter says it
-- waits. One notification per finished command waited on, its id the payload.
-- Returns how many wait still, so the worker stops looking when none does.
SELECT (SELECT count(*) FROM {waiters}) AS waiting,
       (SELECT count(pg_notify({done_channel}, w.command_id::text))
        FROM {waiters} AS w
        JOIN {command} AS c
          ON c.execution_id = w.execution_id AND c.command_id = w.command_id
        WHERE c.status IN ('COMPLETED', 'FAILED', 'CANCELLED')) AS woken
