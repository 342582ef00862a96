-- The caller's own limits again, after an enqueue (see enqueue_limits.sql); if
-- nothing was kept aside (the statements ran apart), the limits stand as they are.
SELECT set_config('statement_timeout',
                  coalesce(nullif(current_setting('pgqueue.statement_timeout', true), ''),
                           current_setting('statement_timeout')),
                  true),
       set_config('lock_timeout',
                  coalesce(nullif(current_setting('pgqueue.lock_timeout', true), ''),
                           current_setting('lock_timeout')),
                  true)
