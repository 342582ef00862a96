-- An enqueue's deadline, on the caller's own connection and in its own
-- transaction: the caller's settings are kept aside (in pgqueue's own custom
-- settings) and put back by enqueue_limits_restore.sql right after, so the rest
-- of the caller's transaction runs under its own limits.
SELECT set_config('pgqueue.statement_timeout', current_setting('statement_timeout'), true),
       set_config('pgqueue.lock_timeout', current_setting('lock_timeout'), true),
       set_config('statement_timeout', %(statement_timeout)s, true),
       set_config('lock_timeout', %(lock_timeout)s, true)
