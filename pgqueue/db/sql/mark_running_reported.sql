-- The tools start: CLAIMED becomes RUNNING for many commands at once, and their
-- start reports go into the outbox in the same statement.
WITH written AS (
{mark_running}
),
reported AS (
{outbox_insert}
)
-- the keys marked (what mark_running returns)
SELECT command_id, execution_id FROM written
