-- pgqueue.wait records the command it waits on: the write that finishes it
-- then notifies (part_wake.sql).
INSERT INTO {waiter} (command_id) VALUES (%(command_id)s)
