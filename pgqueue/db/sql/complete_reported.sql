-- Finish many commands, each with its own result, and outbox their reports: one
-- statement, one transaction.
WITH written AS (
{complete}
),
reported AS (
{outbox_insert}
)
-- the keys finished (what complete returns)
SELECT command_id, execution_id FROM written
