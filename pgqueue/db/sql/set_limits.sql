-- A statement's deadline, set in the same pipeline just before it: for that
-- implicit transaction only (is_local), so nothing stays on the session.
SELECT set_config('statement_timeout', %(statement_timeout)s, true),
       set_config('lock_timeout', %(lock_timeout)s, true)
