-- Pause a schedule (%(paused)s true) or resume it. The ticks of a pause are
-- not enqueued, whatever the schedule's policy: a resume moves its watermark
-- to now, and its next tick is the first after the resume.
UPDATE {schedules} AS s
SET paused_at = CASE WHEN %(paused)s THEN coalesce(s.paused_at, now()) END,
    paused_reason = CASE WHEN %(paused)s THEN %(reason)s END,
    last_tick = CASE WHEN %(paused)s OR s.paused_at IS NULL THEN s.last_tick
                     ELSE greatest(s.last_tick, now()) END,
    updated_at = now()
WHERE s.name = %(name)s
RETURNING s.*, now() AS now
