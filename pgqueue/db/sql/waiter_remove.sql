-- pgqueue.wait is done waiting: one of its rows goes (another caller may wait
-- on the same command).
DELETE FROM {waiter}
WHERE ctid = (SELECT ctid FROM {waiter} WHERE command_id = %(command_id)s LIMIT 1)
