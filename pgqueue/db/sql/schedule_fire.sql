-- Enqueue a schedule's due ticks, exactly once across every worker: move its
-- watermark from the one this worker read (%(seen)s) to the latest due tick,
-- and enqueue the ticks in the same statement, only if the watermark moved.
-- Of two workers that read the same watermark, the second's update waits for
-- the first's row lock, then re-reads the row, finds the watermark moved, and
-- updates nothing: its ticks are not enqueued (graphile-worker's design).
WITH
-- the compare-and-swap on the watermark (a paused schedule fires nothing)
advanced AS (
    UPDATE {schedules}
    SET last_tick = %(watermark)s,
        updated_at = now()
    WHERE name = %(name)s
      AND last_tick = %(seen)s
      AND paused_at IS NULL
    RETURNING name, command
),
-- a command id per tick, drawn only if the watermark moved
fired AS MATERIALIZED (
    SELECT a.command, {snowflake}() AS command_id,
           jsonb_build_object('schedule', a.name, 'tick', u.label) AS marks
    FROM advanced AS a
    CROSS JOIN unnest(%(ticks)s::text[]) WITH ORDINALITY AS u(label, ord)
),
inserted AS (
{schedule_insert}
)
-- one row whether or not it moved: did it, and the commands enqueued
SELECT (SELECT count(*) FROM advanced) AS moved,
       coalesce((SELECT array_agg(command_id ORDER BY meta ->> 'tick') FROM inserted),
                '{{}}') AS command_ids
