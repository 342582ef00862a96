-- What a prune would delete (prune --dry-run): the finished commands older than
-- the window, counted, nothing changed.
SELECT count(*)
FROM {command}
-- the same rows prune.sql takes
WHERE status = ANY(%(statuses)s::text[])
  AND completed_at < now() - %(older_than)s
