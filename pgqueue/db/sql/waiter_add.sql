-- A caller of pgqueue.wait starts waiting for a command: its row, for the
-- workers to look at after their completions, and a word to them on the
-- queue's channel that someone waits (they look once at once, and after each
-- completion from then on). Waiters a killed caller left behind a day ago go.
WITH gone AS (
    DELETE FROM {waiters} WHERE since < now() - interval '1 day'
),
added AS (
    INSERT INTO {waiters} (execution_id, command_id)
    VALUES (%(execution_id)s, %(command_id)s)
    RETURNING waiter_id
)
SELECT waiter_id, pg_notify(%(channel)s, 'waiting') AS told FROM added
