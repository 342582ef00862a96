-- Add a schedule, or change one in place. A changed timing (cron, interval or
-- time zone) starts again from now: its first tick is the first after now,
-- and none of the old timing's ticks is enqueued. Any other change keeps the
-- watermark. Returns the schedule as it now stands.
INSERT INTO {schedules} AS s (name, cron, every, timezone, command, missed, backfill_count,
                              backfill_window, anchor, last_tick)
VALUES (%(name)s, %(cron)s, %(every)s, %(timezone)s, %(command)s, %(missed)s,
        %(backfill_count)s, %(backfill_window)s,
        -- ticks of an interval fall on whole seconds from the schedule's start
        date_trunc('second', now()), now())
ON CONFLICT (name) DO UPDATE
SET cron = EXCLUDED.cron,
    every = EXCLUDED.every,
    timezone = EXCLUDED.timezone,
    command = EXCLUDED.command,
    missed = EXCLUDED.missed,
    backfill_count = EXCLUDED.backfill_count,
    backfill_window = EXCLUDED.backfill_window,
    anchor = CASE WHEN (s.cron, s.every, s.timezone)
                       IS DISTINCT FROM (EXCLUDED.cron, EXCLUDED.every, EXCLUDED.timezone)
                  THEN EXCLUDED.anchor ELSE s.anchor END,
    last_tick = CASE WHEN (s.cron, s.every, s.timezone)
                          IS DISTINCT FROM (EXCLUDED.cron, EXCLUDED.every, EXCLUDED.timezone)
                     THEN EXCLUDED.last_tick ELSE s.last_tick END,
    updated_at = now()
RETURNING s.*, now() AS now
