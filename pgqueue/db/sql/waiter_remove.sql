-- A caller of pgqueue.wait stops waiting (its command finished, or it timed out).
DELETE FROM {waiters} WHERE waiter_id = %(waiter_id)s
