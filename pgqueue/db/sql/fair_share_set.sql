-- Set the fleet's fair share (%(value)s: 'execution' or 'key'; NULL: off);
-- every worker's claim after the next spreads over it. Returns it as set.
WITH
-- off: no row
off AS (
    DELETE FROM {settings}
    WHERE name = 'fair_share'
      AND %(value)s::text IS NULL
),
-- on: the row, changed in place
turned AS (
    INSERT INTO {settings} AS s (name, value)
    SELECT 'fair_share', %(value)s::text
    WHERE %(value)s::text IS NOT NULL
    ON CONFLICT (name) DO UPDATE
    SET value = EXCLUDED.value,
        updated_at = now()
    RETURNING s.value
)
SELECT (SELECT value FROM turned) AS value
