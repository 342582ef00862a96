-- Enqueue a schedule's command now, apart from its ticks: its watermark stays
-- where it is. The command's meta names the schedule and says run_now.
WITH fired AS MATERIALIZED (
    SELECT s.command, {snowflake}() AS command_id,
           jsonb_build_object('schedule', s.name, 'run_now', true) AS marks
    FROM {schedules} AS s
    WHERE s.name = %(name)s
),
inserted AS (
{schedule_insert}
)
SELECT command_id FROM inserted
