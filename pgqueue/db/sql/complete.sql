-- Finish many commands in one statement, each with its own result.
WITH written AS (
{complete}
),
woken AS (
{wake}
)
-- the keys finished; reading `woken` is what runs the wake-up
SELECT command_id, execution_id FROM written, woken
