-- Remove one concurrency limit (its commands are then claimed without it);
-- returns what was removed, nothing when no such limit was set.
DELETE FROM {limits}
WHERE scope = %(scope)s
  AND key = %(key)s
RETURNING scope, key, max_running
