-- The fleet's fair share: 'execution', 'key', or no row (off).
SELECT value, updated_at
FROM {settings}
WHERE name = 'fair_share'
