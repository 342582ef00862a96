-- Remove one limit, or one of its levers (%(lever)s: 'max_running' or
-- 'rate'; NULL: the whole limit). A limit left with no lever goes. Returns
-- the limit as it was; nothing when no such limit (or lever) was set.
WITH
-- the limit as it is, locked against a concurrent change
was AS MATERIALIZED (
    SELECT scope, key, max_running, rate_count, rate_period
    FROM {limits}
    WHERE scope = %(scope)s
      AND key = %(key)s
      -- the lever named is set
      AND CASE %(lever)s::text
              WHEN 'max_running' THEN max_running IS NOT NULL
              WHEN 'rate' THEN rate_count IS NOT NULL
              ELSE true
          END
    FOR UPDATE
),
-- one lever dropped where the other stays
kept AS (
    UPDATE {limits} AS l
    SET max_running = CASE WHEN %(lever)s::text = 'max_running' THEN NULL ELSE l.max_running END,
        rate_count = CASE WHEN %(lever)s::text = 'rate' THEN NULL ELSE l.rate_count END,
        rate_period = CASE WHEN %(lever)s::text = 'rate' THEN NULL ELSE l.rate_period END,
        updated_at = now()
    FROM was AS w
    WHERE l.scope = w.scope
      AND l.key = w.key
      AND ((%(lever)s::text = 'max_running' AND w.rate_count IS NOT NULL)
           OR (%(lever)s::text = 'rate' AND w.max_running IS NOT NULL))
    RETURNING l.scope
),
-- else the whole row
gone AS (
    DELETE FROM {limits} AS l
    USING was AS w
    WHERE l.scope = w.scope
      AND l.key = w.key
      AND NOT EXISTS (SELECT 1 FROM kept)
    RETURNING l.scope
)
SELECT scope, key, max_running, rate_count, rate_period
FROM was
