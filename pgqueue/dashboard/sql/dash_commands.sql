-- One page of the commands page: newest first, after the page before it by id
-- (keyset pagination: each page costs the same however deep), under the filter.
SELECT command_id, execution_id, step_name, tool_kind, status, attempts, max_attempts,
       concurrency_key, created_at, due_at, completed_at, left(error, 200) AS error
FROM {command}
-- each filter applies when given
WHERE (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(tool_kind)s::text IS NULL OR tool_kind = %(tool_kind)s)
  AND (%(execution_id)s::bigint IS NULL OR execution_id = %(execution_id)s)
  AND (%(concurrency_key)s::text IS NULL OR concurrency_key = %(concurrency_key)s)
  -- the text, a pattern with its wildcards escaped, in the step or the error
  AND (%(text)s::text IS NULL OR step_name ILIKE %(text)s OR error ILIKE %(text)s)
  -- the page after the one that ended at this id
  AND (%(before)s::bigint IS NULL OR command_id < %(before)s)
ORDER BY command_id DESC
LIMIT %(limit)s
