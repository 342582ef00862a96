-- Finish many commands, each with its own result, and outbox their reports: one
-- statement, one transaction.
WITH written AS (
{complete}
),
reported AS (
{outbox_insert}
),
woken AS (
{wake}
)
-- the keys finished (what complete returns); reading `woken` runs the wake-up
SELECT command_id, execution_id FROM written, woken
