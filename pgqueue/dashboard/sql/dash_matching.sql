-- The ids every command under the commands page's filter, for an action on
-- all that match (dash_commands.sql's filter, without its page).
SELECT command_id
FROM {command}
WHERE (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(tool_kind)s::text IS NULL OR tool_kind = %(tool_kind)s)
  AND (%(execution_id)s::bigint IS NULL OR execution_id = %(execution_id)s)
  AND (%(concurrency_key)s::text IS NULL OR concurrency_key = %(concurrency_key)s)
  AND (%(text)s::text IS NULL OR step_name ILIKE %(text)s OR error ILIKE %(text)s)
ORDER BY command_id
-- an action on more than this many asks for a narrower filter
LIMIT %(limit)s
