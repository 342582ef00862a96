-- The paused tool kinds, with their reason and how many due commands wait.
SELECT p.tool_kind, p.reason, p.paused_at,
       (SELECT count(*)
        FROM {command} AS c
        WHERE c.status = 'PENDING'
          AND coalesce(c.tool_kind, '') = p.tool_kind
          AND c.due_at <= now()) AS waiting
FROM {pauses} AS p
ORDER BY p.tool_kind
